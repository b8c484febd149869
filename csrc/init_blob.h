// The sandbox-init executable, embedded in the addon at build time (init_blob.cc), so that a
// prebuilt addon is one file and init cannot be swapped on disk between launches.
#pragma once
#include <stddef.h>

const unsigned char *init_blob();
size_t init_blob_size();
