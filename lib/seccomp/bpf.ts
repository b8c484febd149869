// Classic BPF assembler for seccomp filters: a few kinds of small blocks, jumps resolved by label.
//
// What the kernel runs (man 2 seccomp; kernel Documentation/userspace-api/seccomp_filter.rst):
// a program of struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } over struct seccomp_data
// { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }. Jumps go forward only and jt/jf are
// u8, so no conditional jump may skip more than 255 instructions; at most BPF_MAXINSNS (4096)
// instructions. The numbers below were checked against <linux/filter.h>, <linux/seccomp.h> and
// <linux/audit.h> on Debian 12 (Linux 6.1 uapi).

// struct seccomp_data offsets. args[i] is a u64 at 16 + 8*i; both x86_64 and aarch64 are
// little-endian, so its low 32 bits come first. Classic BPF loads 32 bits at a time.
export const OFF_NR = 0;
export const OFF_ARCH = 4;
export function offArgLow(i: number): number {
  return 16 + 8 * i;
}
export function offArgHigh(i: number): number {
  return 16 + 8 * i + 4;
}

// Instruction codes (<linux/filter.h>, <linux/bpf_common.h>).
export const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS: A = u32 at seccomp_data + k
export const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K: A == k ? jt : jf
export const BPF_JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K: (A & k) != 0 ? jt : jf
export const BPF_RET_K = 0x06; // BPF_RET | BPF_K: return k
export const BPF_MAXINSNS = 4096;

// Return values (<linux/seccomp.h>). The kernel takes the action in the high 16 bits and, for
// ERRNO, hands the low 16 bits to the caller as -errno. KILL_PROCESS is Linux 4.14+; older kernels
// mask it to KILL_THREAD, still a kill.
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export function retErrno(errno: number): number {
  return SECCOMP_RET_ERRNO | (errno & 0xffff);
}

// <linux/audit.h>: what the kernel puts in seccomp_data.arch for each system call entry.
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
export const AUDIT_ARCH_ARM = 0x40000028;

/** arch/x86/include/uapi/asm/unistd.h: x32 system calls enter as x86_64 with this bit set in nr. */
export const X32_SYSCALL_BIT = 0x40000000;

/** One struct sock_filter. */
export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/**
 * A test of one system call argument.
 * width 32: the kernel declares the argument `int` or `unsigned int` and ignores the high word, so
 * the filter must ignore it too — comparing all 64 bits would let a caller slip past with garbage
 * in the high word (flatpak's TIOCSTI filter, CVE-2019-10063). width 64: all 64 bits count.
 * anyBit: matches when (arg & values[0]) != 0. oneOf / noneOf: the argument is / is not one of values.
 */
export interface ArgCheck {
  arg: number;
  width: 32 | 64;
  test: 'anyBit' | 'oneOf' | 'noneOf';
  values: readonly bigint[];
}

export interface FilterRule {
  /** System call number on the filter's architecture. */
  nr: number;
  /** Return value when the rule matches, e.g. retErrno(EPERM). */
  action: number;
  /** Match only when this holds; absent: every call of nr matches. */
  when?: ArgCheck;
}

export interface FilterArch {
  /** The only seccomp_data.arch accepted; any other entry point kills the process. */
  auditArch: number;
  /** x86_64: kill x32 calls, which enter with AUDIT_ARCH_X86_64 and nr | X32_SYSCALL_BIT. */
  refuseX32: boolean;
}

/**
 * Assembles: accept only arch.auditArch (others: KILL_PROCESS); on x86_64 kill x32 calls; then one
 * small block per rule in order, the first match deciding; then ALLOW. Each block jumps only within
 * itself or just past its end, so jumps stay short however many rules there are.
 */
export function assembleFilter(arch: FilterArch, rules: readonly FilterRule[]): Buffer {
  const as = new Assembler();

  // A foreign arch means a different syscall table (int 0x80 on x86_64 enters with i386 numbers:
  // 1 is exit there, write here), so no rule below would mean what it says. seccomp_filter.rst:
  // "it is strongly recommended to check the arch value".
  as.ld(OFF_ARCH);
  const archOk = as.label();
  as.jeq(arch.auditArch, archOk, NEXT);
  as.ret(SECCOMP_RET_KILL_PROCESS);
  as.bind(archOk);

  as.ld(OFF_NR);
  if (arch.refuseX32) {
    // x32 calls (nr | 0x40000000) carry AUDIT_ARCH_X86_64 yet index another table, so they would
    // slip past every rule below; seccomp_filter.rst warns about exactly this.
    const notX32 = as.label();
    as.jset(X32_SYSCALL_BIT, NEXT, notX32);
    as.ret(SECCOMP_RET_KILL_PROCESS);
    as.bind(notX32);
  }

  for (const rule of rules) emitRule(as, rule);
  as.ret(SECCOMP_RET_ALLOW);

  const insns = as.resolve();
  if (insns.length > BPF_MAXINSNS) {
    throw new Error(`seccomp filter of ${insns.length} instructions exceeds BPF_MAXINSNS (${BPF_MAXINSNS})`);
  }
  return encode(insns);
}

// A == nr on entry and on exit of every block.
function emitRule(as: Assembler, rule: FilterRule): void {
  checkU32(rule.nr, 'system call number');
  checkU32(rule.action, 'action');
  const after = as.label();
  as.jeq(rule.nr, NEXT, after);
  if (rule.when === undefined) {
    as.ret(rule.action);
  } else {
    const hit = as.label();
    const miss = as.label();
    emitCheck(as, rule.when, hit, miss);
    as.bind(hit);
    as.ret(rule.action);
    as.bind(miss);
    as.ld(OFF_NR); // the check clobbered A; the next block compares nr again
  }
  as.bind(after);
}

// Loads the argument and ends in a jump to hit or miss on every path.
function emitCheck(as: Assembler, c: ArgCheck, hit: Label, miss: Label): void {
  if (!Number.isInteger(c.arg) || c.arg < 0 || c.arg > 5) throw new Error(`argument index ${c.arg} is not 0-5`);
  if (c.values.length === 0) throw new Error('an argument check needs at least one value');
  const limit = c.width === 32 ? 1n << 32n : 1n << 64n;
  for (const v of c.values) {
    if (v < 0n || v >= limit) throw new Error(`value ${v} does not fit a ${c.width}-bit argument`);
  }
  const lo = (v: bigint): number => Number(v & 0xffffffffn);
  const hi = (v: bigint): number => Number(v >> 32n);

  if (c.test === 'anyBit') {
    if (c.values.length !== 1) throw new Error('anyBit takes one mask');
    const mask = c.values[0]!;
    if (mask === 0n) throw new Error('anyBit needs a nonzero mask');
    const checkHigh = c.width === 64 && hi(mask) !== 0;
    if (lo(mask) !== 0) {
      as.ld(offArgLow(c.arg));
      as.jset(lo(mask), hit, checkHigh ? NEXT : miss);
    }
    if (checkHigh) {
      as.ld(offArgHigh(c.arg));
      as.jset(hi(mask), hit, miss);
    }
    return;
  }

  // oneOf: equal to any value → hit. noneOf: equal to any value → miss, equal to none → hit.
  const [onEqual, onNone] = c.test === 'oneOf' ? [hit, miss] : [miss, hit];
  if (c.width === 32) {
    as.ld(offArgLow(c.arg));
    c.values.forEach((v, i) => {
      as.jeq(lo(v), onEqual, i === c.values.length - 1 ? onNone : NEXT);
    });
    return;
  }
  // 64 bits: equal only when both words are. The high word is compared first and each value
  // reloads what it needs, so a value's failure falls through to the next value.
  c.values.forEach((v, i) => {
    const last = i === c.values.length - 1;
    const notThis = last ? onNone : as.label();
    as.ld(offArgHigh(c.arg));
    as.jeq(hi(v), NEXT, notThis);
    as.ld(offArgLow(c.arg));
    as.jeq(lo(v), onEqual, notThis);
    if (!last) as.bind(notThis);
  });
}

/** Decodes struct sock_filter[] bytes (little-endian). */
export function decodeFilter(program: Buffer): Insn[] {
  if (program.length % 8 !== 0) throw new Error(`a BPF program is a multiple of 8 bytes, not ${program.length}`);
  const insns: Insn[] = [];
  for (let off = 0; off < program.length; off += 8) {
    insns.push({
      code: program.readUInt16LE(off),
      jt: program.readUInt8(off + 2),
      jf: program.readUInt8(off + 3),
      k: program.readUInt32LE(off + 4),
    });
  }
  return insns;
}

function encode(insns: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}

function checkU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${what} ${n} is not a u32`);
}

// Jump targets: a label bound later, or NEXT (the following instruction, offset 0).
interface Label {
  pos: number | null;
}
const NEXT: Label = { pos: null };

interface PendingInsn {
  code: number;
  k: number;
  jt: Label | null;
  jf: Label | null;
}

class Assembler {
  private readonly insns: PendingInsn[] = [];

  label(): Label {
    return { pos: null };
  }

  bind(label: Label): void {
    if (label === NEXT || label.pos !== null) throw new Error('label bound twice');
    label.pos = this.insns.length;
  }

  ld(offset: number): void {
    this.insns.push({ code: BPF_LD_W_ABS, k: offset, jt: null, jf: null });
  }

  jeq(k: number, jt: Label, jf: Label): void {
    this.insns.push({ code: BPF_JEQ_K, k, jt, jf });
  }

  jset(k: number, jt: Label, jf: Label): void {
    this.insns.push({ code: BPF_JSET_K, k, jt, jf });
  }

  ret(k: number): void {
    this.insns.push({ code: BPF_RET_K, k, jt: null, jf: null });
  }

  resolve(): Insn[] {
    return this.insns.map((p, i) => ({
      code: p.code,
      k: p.k >>> 0,
      jt: offsetTo(p.jt, i),
      jf: offsetTo(p.jf, i),
    }));
  }
}

function offsetTo(label: Label | null, from: number): number {
  if (label === null || label === NEXT) return 0;
  if (label.pos === null) throw new Error('jump to an unbound label');
  const off = label.pos - (from + 1);
  // Classic BPF jumps forward only, by a u8.
  if (off < 0 || off > 255) throw new Error(`jump of ${off} instructions at ${from} does not fit in a u8`);
  return off;
}
