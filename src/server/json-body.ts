/**
 * How request bodies are read: Fastify's JSON parser (which refuses
 * __proto__ and constructor.prototype keys) with four rules of meshca's. An
 * empty body is no body, as for a client that sends a content type on every
 * request; a body nesting deeper than MAX_JSON_NESTING is refused before it
 * is parsed (json-nesting.ts); a key named twice in one object is refused
 * (duplicate-keys.ts); and so is a body in a content encoding (415), which
 * Fastify would read as plain JSON whatever it says.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidInputError, UnsupportedMediaError } from '../errors.js';
import { firstDuplicateKey } from './duplicate-keys.js';
import { MAX_JSON_NESTING, nestsDeeperThan } from './json-nesting.js';
import { quotedInput } from './edge.js';

export function installJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      return done(new UnsupportedMediaError('invalid_request', `Content-Encoding ${quotedInput(encoding)} is not read; send the JSON body unencoded`), undefined);
    }
    const text = body as string;
    if (text.length === 0) {
      done(null, undefined);
      return;
    }
    if (nestsDeeperThan(text, MAX_JSON_NESTING)) {
      return done(new InvalidInputError('invalid_request', `request body nests objects and arrays more than ${MAX_JSON_NESTING} deep`), undefined);
    }
    parse(request, text, (err, value) => {
      if (err) return done(validJson(text) ? prototypeKeyError() : err, undefined);
      const twice = firstDuplicateKey(text);
      if (twice !== undefined) return done(new InvalidInputError('invalid_request', `request body names the key ${quotedInput(twice)} twice in one object`), undefined);
      done(null, value);
    });
  });
}

/** Fastify's parser says "not valid JSON" also of valid JSON it refuses on purpose: a key that could reach Object.prototype. */
function prototypeKeyError(): InvalidInputError {
  return new InvalidInputError('invalid_request', 'request body names __proto__ or constructor.prototype, which no request takes');
}

function validJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
