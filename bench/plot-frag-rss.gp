# bench/plot-frag-rss.gp: bench/img/frag-rss.png from bench/data/frag-rss.dat
# (written by bench/plot-frag-rss.py, which runs this with the values below
# read from the data file's header):
#   gnuplot -e 'dat="…"; out="…"; limit=MiB; live=MiB; dur=s; mult=x; sub="…"' bench/plot-frag-rss.gp
# Index blocks 0-3: t_s usage_MiB vmrss_MiB live_MiB per configuration;
# block 4: events (config t_s MiB kind detail; kind 1 release.done,
# 2 restart, 3 OOM kill); block 5: labels (t_s MiB "text" right).

if (!exists("dat")) dat = "bench/data/frag-rss.dat"
if (!exists("out")) out = "bench/img/frag-rss.png"
if (!exists("sub")) sub = ""

array name[4] = ["glibc alone", "jemalloc alone", "memwarden, glibc (preload=none)", "memwarden defaults (jemalloc)"]
array col[4] = ["#d62728", "#1f77b4", "#ff7f0e", "#2ca02c"]

set terminal pngcairo size 1000,600 font "Sans,10" noenhanced
set output out
set title sprintf("fragment (16 threads) in a memory cgroup of %.0f MiB (%.2g x live): memory.usage_in_bytes\n%s", \
                  limit, mult, sub)
set xlabel "seconds"
set ylabel "MiB"
set xrange [0:dur]
set yrange [0:limit * 1.15]
set grid ytics lc rgb "#dddddd"
set key outside right top vertical Left reverse samplen 2 spacing 1.2 width -4
set datafile missing "NaN"

set arrow 1 from 0, limit to dur, limit nohead lc rgb "black" lw 1.5 dt 2 front
set label 1 sprintf("limit %.0f MiB", limit) at dur, limit right offset -0.5, 0.7 front
set arrow 3 from 0, 0.9 * limit to dur, 0.9 * limit nohead lc rgb "#9467bd" lw 1 dt 4 back
set arrow 2 from 0, live to dur, live nohead lc rgb "#777777" lw 1.5 dt 3 front
set label 2 sprintf("live %.0f MiB", live) at dur, live right offset -0.5, -0.7 tc rgb "#555555" front

ev(i, k) = ($1 == i && $4 == k) ? $3 : NaN

plot for [i=1:4] dat index (i-1) using 1:2 with lines lw 2 lc rgb col[i] title name[i], \
     for [i=1:4] dat index 4 using 2:(ev(i-1, 1)) with points pt 9 ps 1.3 lc rgb col[i] notitle, \
     for [i=1:4] dat index 4 using 2:(ev(i-1, 2)) with points pt 6 ps 2.5 lw 2 lc rgb col[i] notitle, \
     for [i=1:4] dat index 4 using 2:(ev(i-1, 3)) with points pt 2 ps 2.5 lw 3 lc rgb col[i] notitle, \
     dat index 5 using 1:($4 == 0 ? $2 : NaN):3 with labels left offset 1.5, 0 notitle, \
     dat index 5 using 1:($4 == 1 ? $2 : NaN):3 with labels right offset -1.5, 0 notitle, \
     NaN with points pt 9 ps 1.3 lc rgb "#444444" title "release done (memwarden)", \
     NaN with points pt 6 ps 2.5 lw 2 lc rgb "#444444" title "restart (memwarden)", \
     NaN with points pt 2 ps 2.5 lw 3 lc rgb "#444444" title "OOM kill (oom_control)", \
     NaN with lines lw 1.5 dt 2 lc rgb "black" title "limit", \
     NaN with lines lw 1 dt 4 lc rgb "#9467bd" title "memwarden's hard (90% of the limit)", \
     NaN with lines lw 1.5 dt 3 lc rgb "#777777" title "live bytes (LIVE)"
