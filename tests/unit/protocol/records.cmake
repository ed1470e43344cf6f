# SPDX-License-Identifier: Apache-2.0
# Unit tests of protocol/'s record part (CRC-32C, RecordBatch v2, compression codecs). Included by
# tests/unit/protocol/CMakeLists.txt.
foreach(t crc32c batch compress)
    add_executable(test_${t} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c)
    target_link_libraries(test_${t} PRIVATE protocol ${CMOCKA_LIB})
    target_include_directories(test_${t} PRIVATE ${SNAPPY_INCLUDE})
    target_compile_definitions(test_${t} PRIVATE
                               RECORDS_DATA_DIR="${CMAKE_CURRENT_LIST_DIR}/data")
    add_test(NAME test_${t} COMMAND test_${t})
endforeach()

# Regenerates data/rdkafka_*.bin from a real librdkafka producer (not a test; run by hand):
#   build/tests/unit/protocol/gen_rdkafka_fixtures tests/unit/protocol/data
pkg_check_modules(RDKAFKA IMPORTED_TARGET rdkafka)
if(RDKAFKA_FOUND)
    add_executable(gen_rdkafka_fixtures ${CMAKE_CURRENT_LIST_DIR}/gen_rdkafka_fixtures.c)
    target_link_libraries(gen_rdkafka_fixtures PRIVATE protocol PkgConfig::RDKAFKA)
endif()
