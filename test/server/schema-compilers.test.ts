/** Route schemas compiled once per process: apps declaring equal schemas share the validator and serializer Fastify compiles. */
import { describe, expect, it } from 'vitest';
import { sharedSchemaCompilers } from '../../src/server/schema-compilers.js';

const AJV_OPTIONS = { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } };
/** A fresh object each time, as each app's routes declare their schemas anew. */
const bodySchema = () => ({ type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', maxLength: 8 } } });
const route = (schema: object) => ({ schema, method: 'POST', url: '/v1/things', httpPart: 'body' });

describe('shared schema compilers', () => {
  it('pass/two apps declaring equal schemas get the one validator, and it validates', () => {
    const first = sharedSchemaCompilers.buildValidator({}, AJV_OPTIONS)(route(bodySchema()));
    const second = sharedSchemaCompilers.buildValidator({}, AJV_OPTIONS)(route(bodySchema()));
    expect(second).toBe(first);
    const validate = first as (data: unknown) => boolean;
    expect([validate({ name: 'web' }), validate({ name: 'far-too-long' }), validate({ name: 'web', extra: 1 })]).toEqual([true, false, false]);
  });

  it.each([
    ['another schema', () => [AJV_OPTIONS, { ...bodySchema(), required: [] }]],
    ['other compiler settings', () => [{ customOptions: { ...AJV_OPTIONS.customOptions, coerceTypes: true } }, bodySchema()]],
  ] as const)('fail/%s is compiled anew, not answered from the cache', (_name, variant) => {
    const [options, schema] = variant();
    const cached = sharedSchemaCompilers.buildValidator({}, AJV_OPTIONS)(route(bodySchema()));
    const other = sharedSchemaCompilers.buildValidator({}, options as typeof AJV_OPTIONS)(route(schema));
    expect(other).not.toBe(cached);
  });

  it('pass/equal response schemas share one serializer, which writes what the schema declares', () => {
    const schema = () => ({ type: 'object', properties: { id: { type: 'string' } } });
    const build = () => sharedSchemaCompilers.buildSerializer({}, {})({ schema: schema(), method: 'GET', url: '/v1/things', httpStatus: '200' });
    const serialize = build();
    expect(build()).toBe(serialize);
    expect(serialize({ id: 'a', secret: 'not declared' })).toBe('{"id":"a"}');
  });
});
