// Trains an on-device training artifact set with ONNX Runtime Training 1.19.2 (the training build
// that onnxruntime-web ships as dist/ort.training.wasm.mjs) and prints one JSON object on stdout:
//   { "engine": "onnxruntime-web <version> training", "losses": [...], "eval": [[...], ...]? }
//
// Usage:
//   node train.mjs --train training_model.onnx --checkpoint checkpoint --optimizer optimizer_model.onnx
//                  --feed batch.json[,batch2.json,...] [--steps N] [--train-steps-per-update K] [--eval eval_model.onnx]
//
// The feed file is the JSON that `onnxmemopt train --data` reads, with each input's element type:
//   { "inputs": { "input": { "type": "float32", "shape": [2, 784], "values": [...] }, ... } }
// Every step is ORT's own loop: runTrainStep (the first one after lazyResetGrad overwrites the
// gradients), runOptimizerStep, lazyResetGrad; with K train steps per update, K train steps (every
// loss printed) before each optimizer step. With --eval, the eval model's outputs on the same
// (first) feed after training are printed too ("eval": flat number arrays in the eval model's output order).
//
// WHY single-threaded: the threaded WASM build needs worker threads that node's ESM loader of this
// package does not start; one thread is also what makes runs repeatable bit for bit.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function parseArguments(argv) {
  const options = { steps: 10, 'train-steps-per-update': 1 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const value = argv[i + 1];
    if (!key.startsWith('--') || value === undefined) {
      throw new Error(`unexpected argument '${key}'`);
    }
    options[key.slice(2)] = value;
    i++;
  }
  for (const required of ['train', 'checkpoint', 'optimizer', 'feed']) {
    if (!options[required]) {
      throw new Error(`--${required} is required`);
    }
  }
  options.steps = Number.parseInt(options.steps, 10);
  if (!(options.steps >= 0)) {
    throw new Error('--steps must be a non-negative integer');
  }
  options.accumulate = Number.parseInt(options['train-steps-per-update'], 10);
  if (!(options.accumulate >= 1)) {
    throw new Error('--train-steps-per-update must be a positive integer');
  }
  return options;
}

// ORT's tensor constructors take typed arrays; int64 values travel as BigInt.
function tensorOf(ort, name, entry) {
  const type = entry.type ?? 'float32';
  const shape = entry.shape.map(Number);
  const values = entry.values;
  switch (type) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from(values), shape);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from(values.map((v) => BigInt(v))), shape);
    case 'int32': return new ort.Tensor('int32', Int32Array.from(values), shape);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from(values.map((v) => (v ? 1 : 0))), shape);
    default: throw new Error(`input '${name}': element type '${type}' is not supported`);
  }
}

function flatNumbers(tensor) {
  return Array.from(tensor.data, (v) => Number(v));
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  // The package's exports map hides package.json and the training build: read them by path, from
  // the folder `npm ci` restored beside this script (the pinned version, never a global one).
  const packageRoot = join(dirname(fileURLToPath(import.meta.url)), 'node_modules', 'onnxruntime-web');
  const version = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
  const ort = await import(pathToFileURL(join(packageRoot, 'dist', 'ort.training.wasm.mjs')).href);
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';

  const session = await ort.TrainingSession.create({
    checkpointState: new Uint8Array(readFileSync(options.checkpoint)),
    trainModel: new Uint8Array(readFileSync(options.train)),
    optimizerModel: new Uint8Array(readFileSync(options.optimizer)),
    ...(options.eval ? { evalModel: new Uint8Array(readFileSync(options.eval)) } : {}),
  });

  // --feed a.json[,b.json,...]: train step i takes batch i modulo their count.
  const feedFiles = options.feed.split(',').map((file) => JSON.parse(readFileSync(file, 'utf8')));
  const batches = feedFiles.map((feedFile) => {
    const feeds = {};
    for (const name of session.trainingInputNames) {
      const entry = feedFile.inputs?.[name];
      if (!entry) {
        throw new Error(`the feed file has no input '${name}' (the training model takes ${session.trainingInputNames.join(', ')})`);
      }
      feeds[name] = tensorOf(ort, name, entry);
    }
    return feeds;
  });
  const feedFile = feedFiles[0];
  const feeds = batches[0];

  const lossName = session.trainingOutputNames[0];
  const losses = [];
  let trainStep = 0;
  for (let step = 0; step < options.steps; step++) {
    // With K train steps per update, the gradients of all K add up in the buffers (no lazy reset
    // between them) and the optimizer step applies their sum: ORT's accumulation semantics.
    for (let micro = 0; micro < options.accumulate; micro++) {
      const outputs = await session.runTrainStep(batches[trainStep++ % batches.length]);
      losses.push(Number(outputs[lossName].data[0]));
    }
    await session.runOptimizerStep();
    await session.lazyResetGrad();
  }

  const report = { engine: `onnxruntime-web ${version} training`, training_inputs: session.trainingInputNames, losses };
  if (options.eval) {
    const evalFeeds = {};
    for (const name of session.evalInputNames) {
      evalFeeds[name] = feeds[name] ?? tensorOf(ort, name, feedFile.inputs[name]);
    }
    const outputs = await session.runEvalStep(evalFeeds);
    // By position: ORT 1.19.2's evalOutputNames lists only the first output of an eval model with
    // several, and keys the others "undefined".
    report.eval = Object.values(outputs).map((tensor) => flatNumbers(tensor));
    report.eval_output_names = session.evalOutputNames;
  }
  await session.release();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error) => {
  // ORT's WASM side reports some failures as a bare number; the message says where it came from.
  const message = error instanceof Error ? error.message : `ONNX Runtime error code ${String(error)}`;
  process.stderr.write(`train.mjs: ${message}\n`);
  process.exit(1);
});
