# Plots the latency sweep of bench/run.sh. Call with
#   gnuplot -e "csv='sweep.csv'; out='latency.png'; machine='CPU, N cores, date'" latency.gp
# The CSV columns are offered_rate, sent_rate, throughput, p50_ms, p95_ms,
# p99_ms, max_ms and error_rate, after one header line.

set terminal pngcairo size 1100,480 font "sans,10"
set output out
set datafile separator ","
set key autotitle columnheader
set multiplot layout 1,2 title "linkbolt redirects, load from linkbolt bench on the same machine (" . machine . ")"

set title "Latency against offered load"
set xlabel "offered load (requests/s)"
set ylabel "latency (ms, log scale)"
set logscale y
set grid
set key top left
plot csv using 1:4 with linespoints title "p50", \
     csv using 1:5 with linespoints title "p95", \
     csv using 1:6 with linespoints title "p99", \
     csv using 1:7 with linespoints title "max"

set title "Throughput against offered load"
set ylabel "successful responses/s"
unset logscale y
set yrange [0:*]
plot csv using 1:3 with linespoints title "throughput", \
     csv using 1:1 with lines dashtype 2 title "offered"
unset multiplot
