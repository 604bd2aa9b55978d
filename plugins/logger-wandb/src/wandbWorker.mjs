// Hosts @wandb/sdk in a worker thread so that its unbounded retries, its process-wide signal
// handlers and its throws from message handlers can never block, exit or crash the training
// process: the logger terminates this thread when its time is up.
import { parentPort } from 'node:worker_threads';
import { format } from 'node:util';

const post = (message) => parentPort.postMessage(message);
// The SDK reports failures only on the console: forward them so the logger can count and show them.
console.error = (...args) => post({ type: 'sdk-error', text: format(...args) });
console.warn = console.error;
console.log = (...args) => post({ type: 'sdk-log', text: format(...args) });
console.info = console.log;
console.debug = console.log;

const { default: wandb } = await import('@wandb/sdk');
let runPromise;

parentPort.on('message', (message) => {
  switch (message.type) {
    case 'init':
      runPromise = wandb.init(message.options);
      runPromise.then(
        (run) => post({ type: 'ready', run: { id: run.id, entity: run.entity, project: run.project, name: run.name ?? null } }),
        (error) => post({ type: 'init-failed', text: String(error?.message ?? error) }),
      );
      break;
    case 'log':
      runPromise?.then((run) => run.log(message.row, message.step)).catch(() => undefined);
      break;
    case 'finish':
      if (!runPromise) post({ type: 'finished' });
      else {
        runPromise
          .then((run) => run.finish(message.code))
          .then(
            () => post({ type: 'finished' }),
            (error) => post({ type: 'sdk-error', text: `finish failed: ${String(error?.message ?? error)}` }),
          );
      }
      break;
    default:
      post({ type: 'sdk-error', text: `unknown message ${String(message.type)}` });
  }
});
post({ type: 'loaded' });
