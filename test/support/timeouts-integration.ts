// testTimeout is a global jest option; a per-project timeout is set here instead.
import { jest } from '@jest/globals';

jest.setTimeout(90_000);
