import { buildServiceBundle } from '@tasktier/service-kit/build';

await buildServiceBundle();
