# SPDX-License-Identifier: Apache-2.0
# bench_idle_conns: memory per idle connection of a running ringletd (prints figures).
add_executable(bench_idle_conns ${CMAKE_CURRENT_LIST_DIR}/idle_conns.c)
