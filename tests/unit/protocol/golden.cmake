# SPDX-License-Identifier: Apache-2.0
# Golden request frames captured from kcat/librdkafka, kafka-python and kafkajs
# (tests/unit/protocol/golden/, made with scripts/capture-frames.py), decoded field by field.
add_executable(test_golden test_golden.c ${PROTO_TESTFILL_SOURCE})
add_dependencies(test_golden protocol_generated)
target_include_directories(test_golden PRIVATE ${PROTO_GEN_DIR})
target_compile_definitions(test_golden PRIVATE GOLDEN_DIR="${CMAKE_CURRENT_SOURCE_DIR}/golden")
target_link_libraries(test_golden PRIVATE protocol ${CMOCKA_LIB})
add_test(NAME test_golden COMMAND test_golden)
