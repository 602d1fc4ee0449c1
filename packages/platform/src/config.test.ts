import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { ConfigError, parseEnv } from './config.ts';

const schema = z.object({ PORT: z.coerce.number().int().min(1), NAME: z.string().min(1), MODE: z.enum(['a', 'b']).optional() })
  .refine((config) => config.MODE !== 'b' || config.PORT > 1000, { message: 'MODE=b needs a PORT above 1000' });

describe('parseEnv', () => {
  it('parses the environment with the schema', () => {
    expect(parseEnv(schema, { PORT: '8080', NAME: 'x' }, 'test configuration')).toEqual({ PORT: 8080, NAME: 'x' });
  });

  it('names every bad variable at once, one a line', () => {
    const parse = () => parseEnv(schema, { PORT: 'eighty', MODE: 'c' }, 'test configuration');
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/^invalid test configuration:\n {2}PORT: .+\n {2}NAME: .+\n {2}MODE: .+$/);
  });

  it('says (env) for a rule across variables', () => {
    expect(() => parseEnv(schema, { PORT: '80', NAME: 'x', MODE: 'b' }, 'test configuration'))
      .toThrow('invalid test configuration:\n  (env): MODE=b needs a PORT above 1000');
  });
});
