# SPDX-License-Identifier: Apache-2.0
# storage_append: append MB/s and appends/s per flush policy vs pwrite / pwrite+fdatasync
# baselines, group commit with 8 appenders, sequential reads vs pread (prints figures; not a test).
#   build/bench/storage_append [-d data_dir] [-s seconds_per_case] [-m max_mib_per_case]
add_executable(storage_append ${CMAKE_CURRENT_LIST_DIR}/storage_append.c)
target_link_libraries(storage_append PRIVATE storage)
