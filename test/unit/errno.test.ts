// lib/errno.ts: the one errno → text helper every message takes its cause from.
import { constants } from 'node:os';
import test from 'ava';
import { errnoCode, errnoName, errnoText, errorText } from '../../lib/errno.js';
import { openFailure, SandboxError } from '../../lib/errors.js';
import { setupError } from '../../lib/setup-error.js';

test("errnoText gives strerror(3)'s text, not libuv's", (t) => {
  t.is(errnoText(constants.errno.EPERM), 'Operation not permitted');
  t.is(errnoText(constants.errno.ENOENT), 'No such file or directory');
  t.is(errnoText(constants.errno.EBUSY), 'Device or resource busy'); // libuv: "resource busy or locked"
  t.is(errnoText(constants.errno.EMFILE), 'Too many open files');
  // Outside the table: libuv's text, capitalized as strerror writes it.
  t.regex(errnoText(constants.errno.ECONNREFUSED), /^Connection refused$/i);
  t.regex(errnoText(constants.errno.ECONNREFUSED), /^[A-Z]/);
  t.is(errnoText(99999), 'errno 99999');
});

test('errnoName and errnoCode', (t) => {
  t.is(errnoName(2), 'ENOENT');
  t.is(errnoName(99999), null);
  t.is(errnoCode(Object.assign(new Error('x'), { code: 'EACCES' })), 'EACCES');
  t.is(errnoCode('EACCES'), null);
  t.is(errnoCode(null), null);
});

test("errorText: a Node system error's cause in one line; other errors by their first line", (t) => {
  t.is(errorText(Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES', errno: -13 })), 'Permission denied');
  t.is(errorText(Object.assign(new Error('EXDEV: ...'), { errno: -constants.errno.EXDEV })), 'Invalid cross-device link');
  t.is(errorText(new Error('first\nsecond')), 'first');
  t.is(errorText('plain'), 'plain');
  t.is(errorText(new Error('')), 'unknown error');
});

test('the API and the CLI say the same cause for the same errno', (t) => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/in'"), { code: 'ENOENT', errno: -2 });
  const opened = openFailure(enoent, 'stdin', '/in');
  t.is(opened.message, 'cannot open stdin file /in: No such file or directory');
  t.is(opened.code, 'ENOENT');
  const setup = setupError({ stage: 'mount', errno: 2, detail: 'bind /nope on /data: the source' });
  t.true(setup instanceof SandboxError);
  t.is(setup.message, 'cannot bind /nope on /data: the source: No such file or directory');
  t.is((setup as SandboxError).code, 'ENOENT');
});
