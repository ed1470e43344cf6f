# SPDX-License-Identifier: Apache-2.0
# client_bench: producer and consumer throughput of ringlet's client library vs librdkafka
# against the same running broker, 100 B and 1 KiB records (prints figures; not a test).
#   build/bench/client_bench -b 127.0.0.1:PORT [-n records_100B] [-N records_1KiB]
pkg_check_modules(RDKAFKA_BENCH IMPORTED_TARGET rdkafka)
if(RDKAFKA_BENCH_FOUND)
    add_executable(client_bench ${CMAKE_CURRENT_LIST_DIR}/client_bench.c)
    target_link_libraries(client_bench PRIVATE ringlet_cli PkgConfig::RDKAFKA_BENCH)
endif()
