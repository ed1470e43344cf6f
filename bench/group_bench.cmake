# SPDX-License-Identifier: Apache-2.0
# group_bench: consumer-group figures of a running ringletd with librdkafka group consumers:
# time from a member's death (SIGKILL) to all partitions reassigned for 3 and 100 members, and
# durable OffsetCommit round trips per second (prints figures; not a test).
#   build/bench/group_bench -b 127.0.0.1:PORT [-p ringletd_pid]   (scripts/bench-groups.sh)
pkg_check_modules(GROUP_BENCH_RDKAFKA IMPORTED_TARGET rdkafka)
if(GROUP_BENCH_RDKAFKA_FOUND)
    add_executable(group_bench ${CMAKE_CURRENT_LIST_DIR}/group_bench.c)
    target_link_libraries(group_bench PRIVATE PkgConfig::GROUP_BENCH_RDKAFKA Threads::Threads)
else()
    message(STATUS "librdkafka (pkg-config rdkafka) not found: group_bench not built")
endif()
