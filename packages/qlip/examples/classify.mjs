// Zero-shot classification in ten lines: node examples/classify.mjs digit.png [model]
import { QLIP } from 'qlip';

const [image, model] = process.argv.slice(2);
const q = await QLIP.fromPretrained(model); // a hub id, a directory, or (none) the shipped MNIST model
const labels = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const [best] = await q.zeroShot(image, labels, { templates: ['a photo of the number {}.'] });
console.log(`${image}: ${best.label} (${(100 * best.score).toFixed(1)}%)`);
q.dispose();
