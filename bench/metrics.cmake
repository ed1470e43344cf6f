# SPDX-License-Identifier: Apache-2.0
# metrics_hooks: ns per Produce request spent in the metrics hooks, and /metrics render time
# (prints figures; not a test). The end-to-end on/off comparison is scripts/bench-metrics.sh.
#   build/bench/metrics_hooks [iterations]
add_executable(metrics_hooks ${CMAKE_CURRENT_LIST_DIR}/metrics_hooks.c)
target_link_libraries(metrics_hooks PRIVATE broker)
