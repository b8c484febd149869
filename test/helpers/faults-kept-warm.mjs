// A sandbox kept warm after its run sits in this process's cgroup; a Sandbox with limits made after
// it must still get its cgroup (on v2 the controllers are enabled only once that cgroup holds no
// process: the kept init moves along with this process). Prints one JSON line.
import { Sandbox } from '../../dist/lib/index.js';

const plain = new Sandbox();
const first = await plain.run(['true']);
const kept = (await plain.run(['true'])).outcome;
const limited = await new Sandbox({ memory: '64m', pids: 16 }).run(['true']);
const again = await plain.run(['true']);
await plain.close();
console.log(
  JSON.stringify({ first: first.outcome, kept, limited: limited.outcome, enforcement: limited.enforcement, again: again.outcome }),
);
