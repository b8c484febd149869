// The clone3 trampoline, per architecture. After the syscall the child runs on a fresh stack with
// no caller frame to return to, so it must be assembly: call fn(arg), then exit with its result.
#include "clone3.h"

#include <sys/syscall.h>

#if defined(__x86_64__)
// rdi = args, rsi = size, rdx = fn, rcx = arg. syscall clobbers rcx and r11 only, so fn and arg
// travel in r9 and r8. The child's stack pointer is stack + stack_size (clone3(2)).
asm(R"(
  .text
  .globl sbx_clone3
  .type sbx_clone3, @function
sbx_clone3:
  mov %rcx, %r8
  mov %rdx, %r9
  mov $435, %eax
  syscall
  test %rax, %rax
  jz 1f
  ret
1:
  xor %ebp, %ebp
  and $-16, %rsp
  mov %r8, %rdi
  call *%r9
  mov %eax, %edi
  mov $60, %eax
  syscall
  hlt
  .size sbx_clone3, .-sbx_clone3
)");
#elif defined(__aarch64__)
// x0 = args, x1 = size, x2 = fn, x3 = arg. svc preserves every register but x0.
asm(R"(
  .text
  .globl sbx_clone3
  .type sbx_clone3, %function
sbx_clone3:
  mov x8, #435
  svc #0
  cbz x0, 1f
  ret
1:
  mov x29, #0
  mov x30, #0
  mov x0, x3
  blr x2
  mov x8, #93
  svc #0
  brk #0
  .size sbx_clone3, .-sbx_clone3
)");
#else
#error "sandbox supports x86_64 and aarch64"
#endif
