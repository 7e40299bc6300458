/**
 * Route schemas compiled once per process and shared by every Fastify app
 * built in it: the CA builds one app per listener, and its tests build
 * hundreds. Compiling a schema (Ajv and fast-json-stringify generate code
 * and evaluate it) is most of what building an app costs, and the result
 * depends only on the schema and the compiler's settings, so apps whose
 * routes declare equal schemas share one validator or serializer. These are
 * Fastify's own compilers; only the caching is ours.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import SerializerSelector from '@fastify/fast-json-stringify-compiler';

type ValidatorFactory = AjvCompiler.ValidatorFactory;
type SerializerFactory = SerializerSelector.SerializerFactory;

const validators = AjvCompiler();
const serializers = SerializerSelector();
const compiled = new Map<string, unknown>();

/** `compile`, answering a schema it compiled before (under the same settings, `scope`) from the cache. */
function cached<Route extends { readonly schema?: unknown }, Compiled>(scope: string, compile: (route: Route) => Compiled): (route: Route) => Compiled {
  return (route) => {
    const key = `${scope} ${JSON.stringify(route.schema)}`;
    if (!compiled.has(key)) compiled.set(key, compile(route));
    return compiled.get(key) as Compiled;
  };
}

export const sharedSchemaCompilers: { readonly buildValidator: ValidatorFactory; readonly buildSerializer: SerializerFactory } = {
  buildValidator: ((externalSchemas: Parameters<ValidatorFactory>[0], options: Parameters<ValidatorFactory>[1]) =>
    cached(`validator ${JSON.stringify([externalSchemas, options])}`, validators(externalSchemas, options))) as ValidatorFactory,
  buildSerializer: (externalSchemas, options) => cached(`serializer ${JSON.stringify([externalSchemas, options])}`, serializers(externalSchemas, options)),
};
