/** Which of meshca's own identities a SPIFFE ID is, and an agent's name: the agent knows the CA, and itself, by these. */
import { describe, expect, it } from 'vitest';
import { agentNameOf, meshcaRoleOf } from '../../src/identity/meshca-identity.js';

describe('meshcaRoleOf', () => {
  it.each<[string, 'server' | 'agent' | undefined]>([
    ['spiffe://example.org/meshca/server', 'server'],
    ['spiffe://other.example/meshca/server', 'server'],
    ['spiffe://example.org/meshca/agent/node-1', 'agent'],
    ['spiffe://example.org/meshca/server/extra', undefined],
    ['spiffe://example.org/meshca/agent', undefined],
    ['spiffe://example.org/meshca/agent/node-1/more', undefined],
    ['spiffe://example.org/meshca/admin/operator/alice', undefined],
    ['spiffe://example.org/ns/meshca/server', undefined],
    ['spiffe://Example.org/meshca/server', undefined],
    ['https://example.org/meshca/server', undefined],
    ['', undefined],
  ])('%s is %s', (text, role) => {
    expect(meshcaRoleOf(text)).toBe(role);
  });
});

describe('agentNameOf', () => {
  it.each<[string, string | undefined]>([
    ['spiffe://example.org/meshca/agent/node-1', 'node-1'],
    ['spiffe://other.example/meshca/agent/web-node', 'web-node'],
    ['spiffe://example.org/meshca/agent', undefined],
    ['spiffe://example.org/meshca/agent/node-1/more', undefined],
    ['spiffe://example.org/meshca/server', undefined],
    ['spiffe://example.org/ns/meshca/agent/node-1', undefined],
    ['not a spiffe id', undefined],
  ])('%s names %s', (text, name) => {
    expect(agentNameOf(text)).toBe(name);
  });
});
