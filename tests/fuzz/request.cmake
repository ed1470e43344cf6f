# SPDX-License-Identifier: Apache-2.0
# Fuzz target for the Kafka message codec (request header + every API's request and response
# decoder, plus an encode/decode round trip through the generated per-message test table);
# seeds in corpus/fuzz_request/ are real client frames (kcat) and encoder output.
set_source_files_properties(${PROTO_TESTFILL_SOURCE} PROPERTIES GENERATED TRUE)
ringlet_fuzz_target(request ${CMAKE_CURRENT_LIST_DIR}/fuzz_request.c ${PROTO_TESTFILL_SOURCE})
target_include_directories(fuzz_request PRIVATE ${PROTO_GEN_DIR})
