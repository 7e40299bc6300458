import { InvalidInputError } from '../errors.js';
import { quotedText } from '../quoted-text.js';

/** An agent's name: one SPIFFE path segment (it becomes spiffe://<td>/meshca/agent/<name>), at most 128 bytes. */
export type AgentName = string & { readonly __brand: 'AgentName' };

/** Also the rule for admin credential names. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export function parseAgentName(input: string, what = 'agent name'): AgentName {
  if (!NAME.test(input) || input === '.' || input === '..') {
    throw new InvalidInputError('invalid_name', `${what} ${quotedText(input.slice(0, 80))} must be 1-128 characters of [A-Za-z0-9._-], not starting with "."`);
  }
  return input as AgentName;
}
