# bench/plot-guard-leak.gp: bench/img/guard-leak.png from bench/data/guard-leak.dat
# (written by bench/plot-guard-leak.py, which runs this):
#   gnuplot -e 'dat="…"; out="…"; limit=MiB; n=rates; xt="(\"10 MB/s\" 0, …)"; ymax=N; sub="…"' \
#           bench/plot-guard-leak.gp
# Columns: 1 idx 2 rate 3 runs 4 memory_restarts 5 graceful 6 markers 7 mw_oom
# 8 plain_runs 9 plain_oom 10 plain_sigkill 11 plain_s 12 peak_med 13 peak_max
# 14 percent_med 15 restart_ms.

if (!exists("dat")) dat = "bench/data/guard-leak.dat"
if (!exists("out")) out = "bench/img/guard-leak.png"
if (!exists("sub")) sub = ""

set terminal pngcairo size 1000,600 font "Sans,10" noenhanced
set output out
w = 0.26
set xrange [-0.6:n-0.4]
eval "set xtics " . xt
set lmargin 10
set rmargin 46
set key outside right top vertical Left reverse samplen 2 spacing 1.3
set style fill solid 0.85 border -1
set grid ytics lc rgb "#dddddd"

set multiplot title sprintf("a steady leak (tests/workloads/leaker from 100 MiB) in a memory cgroup of %.0f MiB\n%s", \
                            limit, sub)

# Top: how each cycle ended.
set origin 0, 0.40
set size 1, 0.55
set bmargin 1
set tmargin 1
unset xtics
set ylabel "count"
set yrange [0:ymax]
plot dat using ($1-w):5:(w*0.95) with boxes lc rgb "#2ca02c" title "memwarden: graceful restarts (of restarts)", \
     dat using 1:7:(w*0.95) with boxes lc rgb "#d62728" title "memwarden: OOM kills", \
     dat using ($1+w):9:(w*0.95) with boxes lc rgb "#555555" title "without memwarden: OOM kills (of runs; time)", \
     dat using ($1-w):5:(sprintf("%d of %d", $5, $4)) with labels font ",9" offset 0, 0.7 notitle, \
     dat using 1:7:(sprintf("%d", $7)) with labels font ",9" offset 0, 0.7 notitle, \
     dat using ($1+w):9:(sprintf("%d of %d\n(%.1f s)", $9, $8, $11)) with labels font ",9" offset 0, 1.5 notitle

# Bottom: how close the cycles came to the limit.
set origin 0, 0
set size 1, 0.42
set tmargin 0.5
set bmargin 3
eval "set xtics " . xt
set xlabel "leak rate"
set ylabel "cycle peak, % of limit"
set yrange [80:104]
set ytics 80, 5, 100
set arrow 1 from -0.6, 90 to n-0.4, 90 nohead lc rgb "#ff7f0e" lw 1.5 dt 2
set arrow 2 from -0.6, 100 to n-0.4, 100 nohead lc rgb "black" lw 1.5 dt 2
plot dat using 1:12 with linespoints pt 7 ps 1.6 lw 1.5 lc rgb "#2ca02c" title "memwarden: median cycle peak", \
     dat using 1:13 with linespoints pt 9 ps 1.8 lw 1.5 lc rgb "#1f77b4" title "memwarden: highest cycle peak", \
     dat using 1:13:(sprintf("%.1f%%", $13)) with labels font ",9" offset 0, 1 tc rgb "#1f77b4" notitle, \
     NaN with lines lw 1.5 dt 2 lc rgb "#ff7f0e" title "hard (90%)", \
     NaN with lines lw 1.5 dt 2 lc rgb "black" title "limit (100%)"
unset multiplot
