// The seccomp builder, checked without a kernel: the program's shape against the rules the kernel's
// checker enforces (seccomp_check_filter, bpf_check_classic), and its meaning by running it in a
// small classic-BPF interpreter over made-up struct seccomp_data.
import test from 'ava';
import fc from 'fast-check';
import { SandboxError } from '../../lib/errors.js';
import {
  assembleFilter,
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_ARM,
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  BPF_MAXINSNS,
  decodeFilter,
  retErrno,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
  type ArgCheck,
  type Insn,
} from '../../lib/seccomp/bpf.js';
import { readFileSync } from 'node:fs';
import { defaultProgramsSource } from '../../scripts/generate-seccomp-defaults.js';
import { assembleProgram, buildSeccompProgram, defaultDenied, parseSeccompFile, type SeccompArch } from '../../lib/seccomp/index.js';
import { defaultPolicy } from '../../lib/seccomp/policy.js';
import { syscallsArm64 } from '../../lib/seccomp/syscalls-arm64.js';
import { syscallsX64 } from '../../lib/seccomp/syscalls-x64.js';

const EPERM = retErrno(1);
const ENOSYS = retErrno(38);
const tables: Record<SeccompArch, ReadonlyMap<string, number>> = { x64: syscallsX64, arm64: syscallsArm64 };
const auditArch: Record<SeccompArch, number> = { x64: AUDIT_ARCH_X86_64, arm64: AUDIT_ARCH_AARCH64 };
const arches: SeccompArch[] = ['x64', 'arm64'];

// ---- a classic BPF checker and interpreter, limited to what seccomp accepts -------------------

const LD_W_ABS = 0x20;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JGT_K = 0x25;
const JMP_JGE_K = 0x35;
const JMP_JSET_K = 0x45;
const RET_K = 0x06;
const jumps = new Set([JMP_JEQ_K, JMP_JGT_K, JMP_JGE_K, JMP_JSET_K]);

/** Throws what the kernel would refuse; returns the decoded program. */
function checkProgram(program: Buffer): Insn[] {
  const insns = decodeFilter(program);
  if (insns.length === 0 || insns.length > BPF_MAXINSNS) throw new Error(`length ${insns.length}`);
  insns.forEach((insn, i) => {
    if (insn.code === LD_W_ABS) {
      // seccomp_check_filter: 32-bit aligned loads inside struct seccomp_data (64 bytes).
      if (insn.k % 4 !== 0 || insn.k >= 64) throw new Error(`load of ${insn.k} at ${i}`);
    } else if (jumps.has(insn.code)) {
      if (i + 1 + insn.jt >= insns.length || i + 1 + insn.jf >= insns.length) throw new Error(`jump out at ${i}`);
    } else if (insn.code === JMP_JA) {
      if (i + 1 + insn.k >= insns.length) throw new Error(`ja out at ${i}`);
    } else if (insn.code !== RET_K) {
      throw new Error(`opcode 0x${insn.code.toString(16)} at ${i}`);
    }
    if (insn.jt > 255 || insn.jf > 255) throw new Error(`jump offset beyond u8 at ${i}`);
  });
  if (insns.at(-1)!.code !== RET_K) throw new Error('does not end in RET');
  return insns;
}

interface Call {
  arch?: number;
  nr: number;
  args?: readonly bigint[];
}

function seccompData(call: Call, arch: SeccompArch): Buffer {
  const data = Buffer.alloc(64);
  data.writeInt32LE(call.nr | 0, 0);
  data.writeUInt32LE(call.arch ?? auditArch[arch], 4);
  for (const [i, a] of (call.args ?? []).entries()) data.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i);
  return data;
}

function runProgram(insns: readonly Insn[], data: Buffer): number {
  let a = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    switch (code) {
      case LD_W_ABS:
        a = data.readUInt32LE(k);
        break;
      case JMP_JA:
        pc += k;
        break;
      case JMP_JEQ_K:
        pc += a === k ? jt : jf;
        break;
      case JMP_JGT_K:
        pc += a > k ? jt : jf;
        break;
      case JMP_JGE_K:
        pc += a >= k ? jt : jf;
        break;
      case JMP_JSET_K:
        pc += (a & k) >>> 0 !== 0 ? jt : jf;
        break;
      case RET_K:
        return k;
      default:
        throw new Error(`opcode ${code}`);
    }
  }
  throw new Error('fell off the end');
}

function filterFor(option: Parameters<typeof buildSeccompProgram>[0], arch: SeccompArch) {
  const insns = checkProgram(buildSeccompProgram(option, arch)!);
  const table = tables[arch];
  return {
    insns,
    call(name: string, ...args: bigint[]): number {
      const nr = table.get(name);
      if (nr === undefined) throw new Error(`${name} unknown on ${arch}`);
      return runProgram(insns, seccompData({ nr, args }, arch));
    },
    raw(call: Call): number {
      return runProgram(insns, seccompData(call, arch));
    },
  };
}

// ---- tables ---------------------------------------------------------------------------------

test('syscall tables: spot checks against the uapi headers', (t) => {
  const x64: Record<string, number> = {
    read: 0,
    ioctl: 16,
    clone: 56,
    execve: 59,
    personality: 135,
    reboot: 169,
    iopl: 172,
    kexec_load: 246,
    unshare: 272,
    kexec_file_load: 320,
    bpf: 321,
    io_uring_setup: 425,
    clone3: 435,
    open_tree_attr: 467,
  };
  const arm64: Record<string, number> = {
    lookup_dcookie: 18,
    ioctl: 29,
    openat: 56,
    personality: 92,
    reboot: 142,
    clone: 220,
    execve: 221,
    kexec_file_load: 294,
    io_uring_setup: 425,
    clone3: 435,
    open_tree_attr: 467,
  };
  for (const [name, nr] of Object.entries(x64)) t.is(syscallsX64.get(name), nr, name);
  for (const [name, nr] of Object.entries(arm64)) t.is(syscallsArm64.get(name), nr, name);
  t.false(syscallsArm64.has('iopl'));
  t.false(syscallsArm64.has('open')); // the generic table has only openat
  t.false(syscallsX64.has('constructor')); // a Map, not an object with a prototype
});

test('syscall tables: numbers are unique and every policy name exists somewhere', (t) => {
  for (const table of Object.values(tables)) {
    t.is(new Set(table.values()).size, table.size);
    for (const nr of table.values()) t.true(Number.isInteger(nr) && nr >= 0 && nr < 1024);
  }
  for (const name of defaultDenied) t.true(syscallsX64.has(name) || syscallsArm64.has(name), name);
  const both = defaultDenied.filter((n) => !['iopl', 'ioperm', 'uselib', 'create_module', 'get_kernel_syms', 'query_module'].includes(n));
  for (const name of both) t.true(syscallsArm64.has(name) && syscallsX64.has(name), name);
});

// ---- program structure ----------------------------------------------------------------------

test('x64: arch check, x32 refusal, rules, then ALLOW', (t) => {
  const insns = checkProgram(buildSeccompProgram('default', 'x64')!);
  t.deepEqual(insns.slice(0, 6), [
    { code: LD_W_ABS, jt: 0, jf: 0, k: 4 },
    { code: JMP_JEQ_K, jt: 1, jf: 0, k: AUDIT_ARCH_X86_64 },
    { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_KILL_PROCESS },
    { code: LD_W_ABS, jt: 0, jf: 0, k: 0 },
    { code: JMP_JSET_K, jt: 0, jf: 1, k: 0x40000000 },
    { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_KILL_PROCESS },
  ]);
  t.is(insns.at(-1)!.code, RET_K);
  // Laid out as a search tree with shared returns: fewer instructions than two per rule.
  t.true(insns.length < 130, `${insns.length} instructions`);
});

test('arm64: arch check, no x32 step', (t) => {
  const insns = checkProgram(buildSeccompProgram('default', 'arm64')!);
  t.deepEqual(insns.slice(0, 4), [
    { code: LD_W_ABS, jt: 0, jf: 0, k: 4 },
    { code: JMP_JEQ_K, jt: 1, jf: 0, k: AUDIT_ARCH_AARCH64 },
    { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_KILL_PROCESS },
    { code: LD_W_ABS, jt: 0, jf: 0, k: 0 },
  ]);
  t.not(insns[4]!.code, JMP_JSET_K);
});

test("'none' builds nothing; the default arch is this machine's", (t) => {
  t.is(buildSeccompProgram('none'), null);
  t.is(buildSeccompProgram('none', 'arm64'), null);
  if (process.arch === 'x64' || process.arch === 'arm64') {
    t.deepEqual(buildSeccompProgram('default'), buildSeccompProgram('default', process.arch));
  } else {
    t.throws(() => buildSeccompProgram('default'), { instanceOf: SandboxError });
  }
});

test('the prebuilt default programs are what assembling the default policy gives', (t) => {
  for (const arch of arches) t.deepEqual(buildSeccompProgram('default', arch), assembleProgram({}, arch), arch);
  const file = readFileSync(new URL('../../lib/seccomp/default-programs.ts', import.meta.url), 'utf8');
  t.is(file, defaultProgramsSource(), 'out of date: npm run generate:seccomp');
});

test('the program is struct sock_filter[] in little-endian bytes', (t) => {
  const program = buildSeccompProgram('default', 'x64')!;
  t.is(program.length % 8, 0);
  // ld [4]: code 0x0020, jt 0, jf 0, k 4
  t.deepEqual([...program.subarray(0, 8)], [0x20, 0x00, 0, 0, 4, 0, 0, 0]);
  // jeq #0xc000003e, 1, 0
  t.deepEqual([...program.subarray(8, 16)], [0x15, 0x00, 1, 0, 0x3e, 0x00, 0x00, 0xc0]);
});

// ---- what the default program decides ---------------------------------------------------------

for (const arch of arches) {
  test(`${arch}: every default-denied call fails, clone3 with ENOSYS, the rest with EPERM`, (t) => {
    const f = filterFor('default', arch);
    for (const rule of defaultPolicy) {
      if (!tables[arch].has(rule.name) || rule.when !== undefined) continue;
      t.is(f.call(rule.name), rule.name === 'clone3' ? ENOSYS : EPERM, rule.name);
    }
  });

  test(`${arch}: ordinary calls are allowed`, (t) => {
    const f = filterFor('default', arch);
    for (const name of [
      'read',
      'write',
      'openat',
      'close',
      'mmap',
      'execve',
      'exit_group',
      'futex',
      'wait4',
      'rt_sigaction',
      'getpid',
      'seccomp',
      'prctl',
      'mbind',
      'set_mempolicy',
      'socket',
      'pidfd_open',
    ]) {
      t.is(f.call(name), SECCOMP_RET_ALLOW, name);
    }
  });

  test(`${arch}: a foreign arch is killed`, (t) => {
    const f = filterFor('default', arch);
    const getpid = tables[arch].get('getpid')!;
    for (const other of [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, arch === 'x64' ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64, 0]) {
      t.is(f.raw({ arch: other, nr: getpid }), SECCOMP_RET_KILL_PROCESS, other.toString(16));
    }
    t.is(f.raw({ nr: getpid }), SECCOMP_RET_ALLOW);
  });

  test(`${arch}: clone is denied with any namespace flag, whatever else is set`, (t) => {
    const f = filterFor('default', arch);
    const SIGCHLD = 17n;
    const threadFlags = 0x3d0f00n; // glibc's pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|*TID
    t.is(f.call('clone', SIGCHLD), SECCOMP_RET_ALLOW);
    t.is(f.call('clone', threadFlags), SECCOMP_RET_ALLOW);
    t.is(f.call('clone', 0xffffffff00000000n | SIGCHLD), SECCOMP_RET_ALLOW, 'the kernel ignores the high word');
    for (const flag of [0x20000n, 0x2000000n, 0x4000000n, 0x8000000n, 0x10000000n, 0x20000000n, 0x40000000n]) {
      t.is(f.call('clone', flag | SIGCHLD), EPERM, flag.toString(16));
      t.is(f.call('clone', flag | threadFlags), EPERM, flag.toString(16));
    }
  });

  test(`${arch}: personality allows only the harmless personas, comparing 32 bits as the kernel does`, (t) => {
    const f = filterFor('default', arch);
    for (const ok of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn, 0x1ffffffffn, 0xffffffffffffffffn, 0x100000000n]) {
      t.is(f.call('personality', ok), SECCOMP_RET_ALLOW, ok.toString(16));
    }
    for (const bad of [0x400000n, 0x40000n, 0x0400008n, 0x1n, 0xfffffffen, 0x100400000n]) {
      t.is(f.call('personality', bad), EPERM, bad.toString(16));
    }
  });

  test(`${arch}: ioctl TIOCSTI and TIOCLINUX are denied, also with high bits set (CVE-2019-10063)`, (t) => {
    const f = filterFor('default', arch);
    for (const cmd of [0x5412n, 0x541cn, 0x100005412n, 0xffffffff0000541cn]) t.is(f.call('ioctl', 0n, cmd), EPERM);
    for (const cmd of [0x5401n, 0x541bn, 0x5413n, 0x80045430n]) t.is(f.call('ioctl', 0n, cmd), SECCOMP_RET_ALLOW);
    t.is(f.call('ioctl', 0x5412n, 0x5401n, 0x5412n), SECCOMP_RET_ALLOW, 'only the request argument counts');
  });
}

test('x64: x32 system calls are killed, arm64 has no such bit', (t) => {
  const x64 = filterFor('default', 'x64');
  t.is(x64.raw({ nr: 0x40000000 | 39 }), SECCOMP_RET_KILL_PROCESS);
  t.is(x64.raw({ nr: 0x40000000 | 169 }), SECCOMP_RET_KILL_PROCESS, 'x32 reboot');
  t.is(x64.raw({ nr: -1 }), SECCOMP_RET_KILL_PROCESS);
  t.is(x64.raw({ nr: 1000 }), SECCOMP_RET_ALLOW, 'an unknown number is left to the kernel (ENOSYS)');
  const arm64 = filterFor('default', 'arm64');
  t.is(arm64.raw({ nr: 0x40000000 | 172 }), SECCOMP_RET_ALLOW);
});

// ---- allow and deny -------------------------------------------------------------------------

test('allow removes a default rule, conditional ones included', (t) => {
  const f = filterFor({ allow: ['ptrace', 'clone', 'ioctl'] }, 'x64');
  t.is(f.call('ptrace'), SECCOMP_RET_ALLOW);
  t.is(f.call('clone', 0x10000011n), SECCOMP_RET_ALLOW);
  t.is(f.call('ioctl', 0n, 0x5412n), SECCOMP_RET_ALLOW);
  t.is(f.call('reboot'), EPERM);
});

test('deny adds calls and makes conditional rules total; unconditional defaults keep their errno', (t) => {
  const f = filterFor({ deny: ['getpid', 'ioctl', 'clone3', 'reboot'] }, 'arm64');
  t.is(f.call('getpid'), EPERM);
  t.is(f.call('ioctl', 0n, 0x5401n), EPERM);
  t.is(f.call('clone3'), ENOSYS, 'EPERM would stop glibc from falling back to clone');
  t.is(f.call('reboot'), EPERM);
  t.is(f.call('getppid'), SECCOMP_RET_ALLOW);
});

test('a name known only on the other arch is accepted and changes nothing', (t) => {
  t.deepEqual(buildSeccompProgram({ deny: ['iopl'], allow: ['ioperm'] }, 'arm64'), buildSeccompProgram('default', 'arm64'));
  t.deepEqual(buildSeccompProgram({ deny: [], allow: [] }, 'x64'), buildSeccompProgram('default', 'x64'));
  t.deepEqual(buildSeccompProgram({ deny: ['getpid', 'getpid'] }, 'x64'), buildSeccompProgram({ deny: ['getpid'] }, 'x64'));
});

test('denying every known call still fits with room to spare', (t) => {
  for (const arch of arches) {
    const insns = checkProgram(buildSeccompProgram({ deny: [...tables[arch].keys()] }, arch)!);
    t.true(insns.length < BPF_MAXINSNS / 4, `${arch}: ${insns.length}`);
  }
});

// ---- errors ---------------------------------------------------------------------------------

test('unknown names throw a SandboxError naming the option', (t) => {
  const err = t.throws(() => buildSeccompProgram({ deny: ['foo'] }, 'x64'), { instanceOf: SandboxError });
  t.is(err.message, 'Expected a system call name known on x86_64 for seccomp.deny but received "foo"');
  t.is(err.stage, 'options');
  t.throws(() => buildSeccompProgram({ allow: ['reboot', 'rebot'] }, 'arm64'), {
    message: 'Expected a system call name known on aarch64 for seccomp.allow but received "rebot"',
  });
  t.throws(() => buildSeccompProgram({ deny: ['constructor'] }, 'x64'), { instanceOf: SandboxError });
});

test('bad option shapes throw SandboxErrors', (t) => {
  const bad: unknown[] = ['strict', 42, null, [], { deny: 'reboot' }, { deny: [7] }, { deny: ['reboot'], extra: [] }];
  for (const option of bad) {
    const err = t.throws(() => buildSeccompProgram(option as 'default', 'x64'), { instanceOf: SandboxError });
    t.regex(err.message, /^Expected .* for seccomp(\.deny)? but received /);
  }
  t.throws(() => buildSeccompProgram({ deny: ['ptrace'], allow: ['ptrace'] }, 'x64'), {
    message: 'Expected names not also in seccomp.deny for seccomp.allow but received "ptrace"',
  });
  t.throws(() => buildSeccompProgram('default', 'ia32' as SeccompArch), { instanceOf: SandboxError, message: /x64 or arm64/ });
});

test('parseSeccompFile reads {deny, allow}', (t) => {
  t.deepEqual(parseSeccompFile('{"deny": ["getpid"], "allow": ["ptrace", "iopl"]}'), {
    deny: ['getpid'],
    allow: ['ptrace', 'iopl'],
  });
  t.deepEqual(parseSeccompFile('{}'), {});
  t.deepEqual(parseSeccompFile(' {"allow": []}\n'), { allow: [] });
});

test('parseSeccompFile refuses bad files with one-line messages', (t) => {
  const cases: [string, RegExp][] = [
    ['{"deny": [', /^Expected JSON in the --seccomp file but it does not parse: /],
    ['', /^Expected JSON in the --seccomp file/],
    ['["reboot"]', /^Expected an object like .* for the --seccomp file but received an array$/],
    ['null', /but received null$/],
    ['{"deny": "reboot"}', /^Expected an array of system call names for "deny" in the --seccomp file but received "reboot"$/],
    [
      '{"allow": ["nope"]}',
      /^Expected a system call name known on x86_64 or aarch64 for "allow" in the --seccomp file but received "nope"$/,
    ],
    ['{"allow": [1]}', /but received 1$/],
    ['{"kill": []}', /^Expected only the keys "deny" and "allow" for the --seccomp file but received "kill"$/],
  ];
  for (const [text, message] of cases) {
    const err = t.throws(() => parseSeccompFile(text), { instanceOf: SandboxError, message });
    t.is(err.stage, 'options');
    t.false(err.message.includes('\n'));
  }
});

// ---- the assembler's argument checks, 64-bit ones included ----------------------------------

test('64-bit argument checks compare both words', (t) => {
  const rule = (when: ArgCheck) => assembleFilter({ auditArch: AUDIT_ARCH_X86_64, refuseX32: false }, [{ nr: 7, action: EPERM, when }]);
  const run = (program: Buffer, arg: bigint) => runProgram(checkProgram(program), seccompData({ nr: 7, args: [0n, 0n, arg] }, 'x64'));
  const oneOf = rule({ arg: 2, width: 64, test: 'oneOf', values: [0x1_00000005n, 9n] });
  t.is(run(oneOf, 0x1_00000005n), EPERM);
  t.is(run(oneOf, 9n), EPERM);
  t.is(run(oneOf, 5n), SECCOMP_RET_ALLOW);
  t.is(run(oneOf, 0x2_00000005n), SECCOMP_RET_ALLOW);
  t.is(run(oneOf, 0x1_00000009n), SECCOMP_RET_ALLOW);
  const noneOf = rule({ arg: 2, width: 64, test: 'noneOf', values: [0n, 0xffffffff_ffffffffn] });
  t.is(run(noneOf, 0n), SECCOMP_RET_ALLOW);
  t.is(run(noneOf, 0xffffffff_ffffffffn), SECCOMP_RET_ALLOW);
  t.is(run(noneOf, 0xffffffffn), EPERM);
  t.is(run(noneOf, 0xffffffff_00000000n), EPERM);
  const anyBit = rule({ arg: 2, width: 64, test: 'anyBit', values: [0x8000_0000_0000_0001n] });
  t.is(run(anyBit, 1n), EPERM);
  t.is(run(anyBit, 0x8000_0000_0000_0000n), EPERM);
  t.is(run(anyBit, 0x7fff_ffff_ffff_fffen), SECCOMP_RET_ALLOW);
  const highOnly = rule({ arg: 2, width: 64, test: 'anyBit', values: [0x1_00000000n] });
  t.is(run(highOnly, 0x1_00000000n), EPERM);
  t.is(run(highOnly, 0xffffffffn), SECCOMP_RET_ALLOW);
});

test('the assembler refuses a jump that does not fit in a u8 instead of wrapping it', (t) => {
  const values = Array.from({ length: 300 }, (_, i) => BigInt(i + 1));
  t.throws(
    () =>
      assembleFilter({ auditArch: AUDIT_ARCH_X86_64, refuseX32: true }, [
        { nr: 1, action: EPERM, when: { arg: 0, width: 32, test: 'oneOf', values } },
      ]),
    { message: /does not fit in a u8/ },
  );
  t.throws(
    () =>
      assembleFilter({ auditArch: AUDIT_ARCH_X86_64, refuseX32: true }, [
        { nr: 1, action: EPERM, when: { arg: 0, width: 32, test: 'oneOf', values: [1n << 32n] } },
      ]),
    { message: /does not fit a 32-bit argument/ },
  );
});

// ---- property: the search tree decides as the rules read in order ------------------------------

test('property: the tree layout decides every call as the linear one, near and far jumps alike', (t) => {
  const check: fc.Arbitrary<ArgCheck> = fc.oneof(
    fc.record({
      arg: fc.integer({ min: 0, max: 5 }),
      width: fc.constant<32>(32),
      test: fc.constantFrom<'oneOf' | 'noneOf'>('oneOf', 'noneOf'),
      values: fc.array(fc.bigInt({ min: 0n, max: 9n }), { minLength: 1, maxLength: 3 }),
    }),
    fc.record({
      arg: fc.integer({ min: 0, max: 5 }),
      width: fc.constant<64>(64),
      test: fc.constant<'anyBit'>('anyBit'),
      values: fc.tuple(fc.bigInt({ min: 1n, max: 15n })),
    }),
  );
  const rule = (maxNr: number) =>
    fc.record(
      {
        nr: fc.integer({ min: 0, max: maxNr }),
        action: fc.constantFrom(EPERM, ENOSYS, retErrno(13)),
        when: fc.option(check, { nil: undefined }),
      },
      { requiredKeys: ['nr', 'action'] },
    );
  // Small sets of numbers (several rules per number, conditional or not), and sets large enough
  // for the far layout.
  const rules = fc.oneof(fc.array(rule(40), { maxLength: 60 }), fc.array(rule(700), { minLength: 300, maxLength: 500 }));
  const args = fc.array(fc.bigInt({ min: 0n, max: 15n }), { minLength: 6, maxLength: 6 });
  let far = 0;
  fc.assert(
    fc.property(rules, args, fc.boolean(), (rs, callArgs, x32) => {
      const arch = { auditArch: AUDIT_ARCH_X86_64, refuseX32: x32 };
      const tree = checkProgram(assembleFilter(arch, rs));
      const linear = checkProgram(assembleFilter(arch, rs, 'linear'));
      if (tree.some((i) => i.code === JMP_JA)) far++;
      const maxNr = Math.max(0, ...rs.map((r) => r.nr)) + 2;
      for (let nr = 0; nr <= maxNr; nr++) {
        const data = seccompData({ nr, args: callArgs }, 'x64');
        if (runProgram(tree, data) !== runProgram(linear, data)) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.true(far > 0, 'the far layout was exercised');
});

// ---- property: any allow/deny of known names builds a valid program that means what it says ----

test('property: random allow/deny subsets build valid programs with the intended decisions', (t) => {
  const names = (arch: SeccompArch) => [...tables[arch].keys()];
  const arb = fc.constantFrom<SeccompArch>('x64', 'arm64').chain((arch) =>
    fc.record({
      arch: fc.constant(arch),
      deny: fc.uniqueArray(fc.constantFrom(...names(arch)), { maxLength: 400 }),
      allow: fc.uniqueArray(fc.constantFrom(...defaultDenied, ...names(arch)), { maxLength: 60 }),
    }),
  );
  let checked = 0;
  fc.assert(
    fc.property(arb, ({ arch, deny, allow }) => {
      checked++;
      const allowOnly = allow.filter((n) => !deny.includes(n));
      const insns = checkProgram(buildSeccompProgram({ deny, allow: allowOnly }, arch)!);
      if (insns.at(-1)!.code !== RET_K || insns.length > BPF_MAXINSNS) return false;
      const table = tables[arch];
      const decide = (name: string, ...args: bigint[]) => runProgram(insns, seccompData({ nr: table.get(name)!, args }, arch));
      for (const name of allowOnly) {
        if (table.has(name) && decide(name, 0x7e020000n, 0x5412n) !== SECCOMP_RET_ALLOW) return false;
      }
      for (const name of deny) {
        const expected = name === 'clone3' && !allowOnly.includes('clone3') ? ENOSYS : EPERM;
        if (decide(name) !== expected) return false;
      }
      return runProgram(insns, seccompData({ arch: AUDIT_ARCH_I386, nr: 0 }, arch)) === SECCOMP_RET_KILL_PROCESS;
    }),
    { numRuns: 300 },
  );
  t.is(checked, 300);
});
