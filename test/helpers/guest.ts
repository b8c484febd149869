// Time bounds stretch in an emulated guest of test/vm/run.sh (VM_GUEST=1): everything runs 20-25
// times slower there, the more so beside the host's own tests in CI.
export const SLOWDOWN = process.env['VM_GUEST'] === '1' ? 25 : 1;
