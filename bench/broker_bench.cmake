# SPDX-License-Identifier: Apache-2.0
# broker_bench: librdkafka load generator run against ringletd and, in the same run, against
# librdkafka's in-memory mock cluster as the baseline; prints produce/consume throughput, ack and
# end-to-end latency and the ringletd/mock ratios (prints figures; not a test).
#   build/bench/broker_bench -b 127.0.0.1:PORT [-p ringletd_pid]   (scripts/bench-broker.sh)
pkg_check_modules(BENCH_RDKAFKA IMPORTED_TARGET rdkafka)
if(BENCH_RDKAFKA_FOUND)
    add_executable(broker_bench ${CMAKE_CURRENT_LIST_DIR}/broker_bench.c)
    target_link_libraries(broker_bench PRIVATE PkgConfig::BENCH_RDKAFKA Threads::Threads m)
else()
    message(STATUS "librdkafka (pkg-config rdkafka) not found: broker_bench not built")
endif()
