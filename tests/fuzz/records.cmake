# SPDX-License-Identifier: Apache-2.0
# Fuzz targets for record batches and the compression codecs (seeds in corpus/fuzz_<name>/).
ringlet_fuzz_target(batch ${CMAKE_CURRENT_LIST_DIR}/fuzz_batch.c)
ringlet_fuzz_target(decompress ${CMAKE_CURRENT_LIST_DIR}/fuzz_decompress.c)
