# SPDX-License-Identifier: Apache-2.0
# protocol_bench: RecordBatch validate/decode and CRC-32C throughput (prints figures; not a test).
#   build/bench/protocol_bench
add_executable(protocol_bench ${CMAKE_CURRENT_LIST_DIR}/protocol_bench.c)
target_link_libraries(protocol_bench PRIVATE protocol)
