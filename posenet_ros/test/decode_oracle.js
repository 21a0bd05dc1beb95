// Test oracle: runs the original tfjs-models posenet 2.2.2 decoders on given network outputs.
//
//   node decode_oracle.js NODE_MODULES_DIR JOBS.json  > answers.json
//
// JOBS.json: {"data": "maps.bin", "jobs": [...]}; maps.bin holds little-endian float32 arrays,
// each job names its arrays by [offset (in floats), shape]. Job kinds:
//   {"kind": "multi", "maps": [heat, offsets, fwd, bwd], "stride", "max", "score", "nms"}
//   {"kind": "single", "maps": [heat, offsets], "stride"}
//   {"kind": "scale", "poses": [[[x, y, score] x 17] ...], "image": [h, w], "input": [h, w],
//    "padding": {top, bottom, left, right}, "flip": bool}
//   {"kind": "round", "values": [...]}  (Math.round)
// Every answer is a list of poses {score, keypoints: [[x, y, score] x 17]}, or numbers for round.
'use strict';
const fs = require('fs');
const path = require('path');

const modules = path.resolve(process.argv[2]);
const dist = path.join(modules, '@tensorflow-models', 'posenet', 'dist');
const spec = JSON.parse(fs.readFileSync(process.argv[3]));
const raw = fs.readFileSync(spec.data);
const floats = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);

function view([offset, shape]) {
  return floats.subarray(offset, offset + shape.reduce((a, b) => a * b, 1));
}

// The decoders only call .get(y, x, c) and .shape on tf.TensorBuffer: give them exactly that.
function buffer(map) {
  const values = view(map);
  const [, w, c] = map[1];
  return {shape: map[1], get: (y, x, k) => values[(y * w + x) * c + k]};
}

function plain(poses) {
  return poses.map(p => ({
    score: p.score,
    keypoints: p.keypoints.map(k => [k.position.x, k.position.y, k.score]),
  }));
}

async function main() {
  let tf = null;
  const answers = [];
  for (const job of spec.jobs) {
    if (job.kind === 'multi') {
      const {decodeMultiplePoses} = require(path.join(dist, 'multi_pose', 'decode_multiple_poses.js'));
      const [heat, offsets, fwd, bwd] = job.maps.map(buffer);
      answers.push(plain(decodeMultiplePoses(
          heat, offsets, fwd, bwd, job.stride, job.max, job.score, job.nms)));
    } else if (job.kind === 'single') {
      if (tf === null) {
        tf = require(path.join(modules, '@tensorflow', 'tfjs-core'));
        require(path.join(modules, '@tensorflow', 'tfjs-backend-cpu'));
        await tf.setBackend('cpu');
      }
      const {decodeSinglePose} = require(path.join(dist, 'single_pose', 'decode_single_pose.js'));
      const [heat, offsets] = job.maps.map(m => tf.tensor3d(view(m), m[1], 'float32'));
      answers.push(plain([await decodeSinglePose(heat, offsets, job.stride)]));
      heat.dispose();
      offsets.dispose();
    } else if (job.kind === 'scale') {
      const {scaleAndFlipPoses} = require(path.join(dist, 'util.js'));
      const poses = job.poses.map(keypoints => ({
        score: 0.5,
        keypoints: keypoints.map(([x, y, score], i) => ({part: String(i), score, position: {x, y}})),
      }));
      answers.push(plain(scaleAndFlipPoses(poses, job.image, job.input, job.padding, job.flip)));
    } else if (job.kind === 'round') {
      answers.push(job.values.map(Math.round));
    } else {
      throw new Error(`unknown job kind ${job.kind}`);
    }
  }
  process.stdout.write(JSON.stringify(answers));
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
