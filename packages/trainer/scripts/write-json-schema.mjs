// Writes train-config.schema.json from the built zod schemas (run by `pnpm build`; a test checks it is current).
import { writeFileSync } from 'node:fs';
import { TRAIN_CONFIG_SCHEMA_FILE, trainConfigJsonSchema } from '../dist/index.js';

writeFileSync(TRAIN_CONFIG_SCHEMA_FILE, `${JSON.stringify(trainConfigJsonSchema(), null, 2)}\n`);
