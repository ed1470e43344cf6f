# SPDX-License-Identifier: Apache-2.0
# RecordBatch v2, CRC-32C and compression codecs: included by protocol/CMakeLists.txt, which adds
# PROTOCOL_RECORD_SOURCES to the protocol library and links PROTOCOL_RECORD_LIBS publicly.
set(PROTOCOL_RECORD_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/crc32c.c
    ${CMAKE_CURRENT_LIST_DIR}/record_batch.c
    ${CMAKE_CURRENT_LIST_DIR}/compress.c)
set(PROTOCOL_RECORD_LIBS PkgConfig::ZSTD PkgConfig::LZ4 PkgConfig::ZLIB ${SNAPPY_LIB})
set(PROTOCOL_RECORD_INCLUDES ${SNAPPY_INCLUDE})
