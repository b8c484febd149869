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
export const BPF_JA = 0x05; // BPF_JMP | BPF_JA: pc += k (32 bits: the only far jump)
export const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K: A == k ? jt : jf
export const BPF_JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K: A >= k ? jt : jf
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

/** How the rules are laid out: a binary search on the call number, or one block after another. */
export type FilterLayout = 'tree' | 'linear';

/** Leaves of the search tree compare this many call numbers one by one (far layout: more, fewer JAs). */
const LEAF_SIZE = 4;
const FAR_LEAF_SIZE = 8;

/**
 * Assembles: accept only arch.auditArch (others: KILL_PROCESS); on x86_64 kill x32 calls; then the
 * rules, the first match for the call's number deciding; ALLOW when none matches.
 *
 * 'tree' (the default) finds the call's rules by binary search on its number, so a call passes
 * some 8 comparisons instead of one per rule. That matters twice: every system call the command
 * makes runs the filter, and installing it costs the kernel one emulated run per system call
 * number (its constant-action cache, Linux 5.11), so the install costs what every number's path
 * costs. 'linear' is one small block per rule in order: the plain reading of the rules, kept as
 * the tests' reference.
 */
export function assembleFilter(arch: FilterArch, rules: readonly FilterRule[], layout: FilterLayout = 'tree'): Buffer {
  for (const rule of rules) {
    checkU32(rule.nr, 'system call number');
    checkU32(rule.action, 'action');
  }
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

  if (layout === 'linear') {
    for (const rule of rules) emitRule(as, rule);
    as.ret(SECCOMP_RET_ALLOW);
    return finish(as);
  }
  const groups = groupByNumber(rules);
  // Short jumps to returns shared at the end make the smallest program; a filter too large for
  // them (thousands of rules) is laid out again with far jumps and returns in place.
  const prologue = as.mark();
  try {
    const returns = new Returns(as);
    emitTree(as, groups, 0, groups.length, returns);
    returns.emit();
    return finish(as);
  } catch (e) {
    if (!(e instanceof JumpTooFar)) throw e;
  }
  as.rewind(prologue);
  emitTree(as, groups, 0, groups.length, null);
  return finish(as);
}

function finish(as: Assembler): Buffer {
  const insns = as.resolve();
  if (insns.length > BPF_MAXINSNS) {
    throw new Error(`seccomp filter of ${insns.length} instructions exceeds BPF_MAXINSNS (${BPF_MAXINSNS})`);
  }
  return encode(insns);
}

/** One RET per distinct action, placed after everything else, reached by short jumps. */
class Returns {
  readonly #labels = new Map<number, Label>();
  constructor(private readonly as: Assembler) {}

  to(action: number): Label {
    let label = this.#labels.get(action);
    if (label === undefined) {
      label = this.as.label();
      this.#labels.set(action, label);
    }
    return label;
  }

  emit(): void {
    for (const [action, label] of this.#labels) {
      this.as.bind(label);
      this.as.ret(action);
    }
  }
}

/** The rules of each call number, in their order, sorted by number. */
function groupByNumber(rules: readonly FilterRule[]): FilterRule[][] {
  const byNr = new Map<number, FilterRule[]>();
  for (const rule of rules) {
    const group = byNr.get(rule.nr);
    if (group === undefined) byNr.set(rule.nr, [rule]);
    else group.push(rule);
  }
  return [...byNr.keys()].sort((a, b) => a - b).map((nr) => byNr.get(nr)!);
}

// A == nr on entry. Every path ends in a RET, or a jump to one: the subtree holds all the rules
// its numbers can match. `returns` null: the far layout, where each leaf has its own returns and
// the jump over a lower half goes through a JA (32-bit offset).
function emitTree(as: Assembler, groups: readonly FilterRule[][], from: number, to: number, returns: Returns | null): void {
  if (to - from <= (returns === null ? FAR_LEAF_SIZE : LEAF_SIZE)) {
    const local = returns ?? new Returns(as);
    for (let i = from; i < to; i++) {
      const group = groups[i]!;
      const first = group[0]!;
      if (first.when === undefined) {
        as.jeq(first.nr, local.to(first.action), NEXT);
        continue;
      }
      const other = as.label();
      as.jeq(first.nr, NEXT, other);
      emitGroup(as, group, local);
      as.bind(other);
    }
    as.ret(SECCOMP_RET_ALLOW);
    if (returns === null) local.emit();
    return;
  }
  const mid = (from + to) >> 1;
  const right = as.label();
  if (returns !== null) {
    as.jge(groups[mid]![0]!.nr, right, NEXT);
  } else {
    const left = as.label();
    as.jge(groups[mid]![0]!.nr, NEXT, left);
    as.ja(right);
    as.bind(left);
  }
  emitTree(as, groups, from, mid, returns);
  as.bind(right);
  emitTree(as, groups, mid, to, returns);
}

// The rules of one call number, nr already matched: the first that holds decides, else ALLOW.
function emitGroup(as: Assembler, group: readonly FilterRule[], returns: Returns): void {
  for (const rule of group) {
    if (rule.when === undefined) {
      as.ja(returns.to(rule.action));
      return; // later rules for this number can never match
    }
    const miss = as.label();
    emitCheck(as, rule.when, returns.to(rule.action), miss);
    as.bind(miss);
  }
  as.ret(SECCOMP_RET_ALLOW);
}

// A == nr on entry and on exit of every block.
function emitRule(as: Assembler, rule: FilterRule): void {
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
  /** JA's target. */
  far?: Label;
}

/** A conditional jump longer than its u8 offset allows. */
class JumpTooFar extends Error {}

class Assembler {
  private readonly insns: PendingInsn[] = [];

  /** The current length, to rewind() to. Labels bound after it must not be used again. */
  mark(): number {
    return this.insns.length;
  }

  rewind(to: number): void {
    this.insns.length = to;
  }

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

  jge(k: number, jt: Label, jf: Label): void {
    this.insns.push({ code: BPF_JGE_K, k, jt, jf });
  }

  /** An unconditional jump; its offset goes in k (resolve()). */
  ja(to: Label): void {
    this.insns.push({ code: BPF_JA, k: 0, jt: null, jf: null, far: to });
  }

  ret(k: number): void {
    this.insns.push({ code: BPF_RET_K, k, jt: null, jf: null });
  }

  resolve(): Insn[] {
    return this.insns.map((p, i) => ({
      code: p.code,
      k: p.far === undefined ? p.k >>> 0 : farOffset(p.far, i),
      jt: offsetTo(p.jt, i),
      jf: offsetTo(p.jf, i),
    }));
  }
}

function farOffset(label: Label, from: number): number {
  if (label.pos === null) throw new Error('jump to an unbound label');
  const off = label.pos - (from + 1);
  if (off < 0) throw new Error(`backward jump at ${from}`);
  return off;
}

function offsetTo(label: Label | null, from: number): number {
  if (label === null || label === NEXT) return 0;
  if (label.pos === null) throw new Error('jump to an unbound label');
  const off = label.pos - (from + 1);
  // Classic BPF jumps forward only, by a u8.
  if (off < 0 || off > 255) throw new JumpTooFar(`jump of ${off} instructions at ${from} does not fit in a u8`);
  return off;
}
