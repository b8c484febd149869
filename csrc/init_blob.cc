#include "init_blob.h"

// binding.gyp puts the directory of the built sandbox-init on the assembler's include path.
asm(".section .rodata\n"
    ".balign 16\n"
    ".globl sbx_init_start\n"
    ".hidden sbx_init_start\n"
    ".globl sbx_init_end\n"
    ".hidden sbx_init_end\n"
    "sbx_init_start:\n"
    ".incbin \"sandbox-init\"\n"
    "sbx_init_end:\n"
    ".previous\n");

extern "C" const unsigned char sbx_init_start[] __attribute__((visibility("hidden")));
extern "C" const unsigned char sbx_init_end[] __attribute__((visibility("hidden")));

const unsigned char *init_blob() { return sbx_init_start; }
size_t init_blob_size() { return (size_t)(sbx_init_end - sbx_init_start); }
