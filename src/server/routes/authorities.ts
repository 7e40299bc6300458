/** The CA key lifecycle for operators: list authorities, rotate the root, import or taint an intermediate, and doctor. */
import { readFile, stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { callerLabel, type Caller } from '../../ca/caller.js';
import { diagnose } from '../../ca/doctor.js';
import { ForbiddenError, InvalidInputError } from '../../errors.js';
import { nowSeconds } from '../../time/clock.js';
import { decodePemBlocks, type PemBlock } from '../../x509/pem.js';
import { durationQuery, isoTime } from '../edge.js';
import type { AuthorityView } from '../json-views.js';
import { authorityIdSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';
import { fileErrorText } from '../../platform/file-error-text.js';

const forceBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { force: { type: 'boolean' } },
} as const;

/** A PEM CA certificate, chain or key is a few KiB; anything far larger is not one. */
const IMPORT_FILE_MAX_BYTES = 1024 * 1024;

/**
 * Reads a CA (`what`: a root, an intermediate) to import from files on the CA
 * host. Only a local operator (the data directory's socket) may name files
 * there: over the network, the answers would let a remote caller probe and
 * read the CA host's files.
 */
async function readImport(
  caller: Caller,
  what: string,
  files: { certFile: string; keyFile?: string | undefined; chainFile?: string | undefined },
): Promise<{ certDer: Buffer; keyPem?: string; chainDer?: Buffer[] }> {
  if (caller.role !== 'operator' || caller.via !== 'local') {
    throw new ForbiddenError('forbidden', `importing ${what} reads files on the CA host: run it there, through the local socket`);
  }
  const read = async (path: string) => {
    try {
      const file = await stat(path);
      if (!file.isFile()) throw new InvalidInputError('invalid_request', `${path} is not a regular file`);
      if (file.size > IMPORT_FILE_MAX_BYTES) throw new InvalidInputError('invalid_request', `${path} is larger than 1 MiB`);
      return await readFile(path, 'utf8');
    } catch (err) {
      if (err instanceof InvalidInputError) throw err;
      throw new InvalidInputError('invalid_request', `cannot read ${path} on the CA host: ${fileErrorText(err)}`);
    }
  };
  const certificates = (path: string, pem: string) => {
    let blocks: PemBlock[];
    try {
      blocks = decodePemBlocks(pem);
    } catch (err) {
      throw new InvalidInputError('invalid_request', `${path} is not PEM: ${(err as Error).message}`);
    }
    const ders = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
    if (ders.length === 0) throw new InvalidInputError('invalid_request', `${path} holds no PEM certificate`);
    return ders;
  };
  const { certFile, keyFile, chainFile } = files;
  const [certPem, keyPem, chainPem] = await Promise.all([
    read(certFile),
    keyFile === undefined ? undefined : read(keyFile),
    chainFile === undefined ? undefined : read(chainFile),
  ]);
  return {
    certDer: certificates(certFile, certPem)[0]!,
    ...(keyPem !== undefined ? { keyPem } : {}),
    ...(chainFile !== undefined && chainPem !== undefined ? { chainDer: certificates(chainFile, chainPem) } : {}),
  };
}

const importPath = { type: 'string', minLength: 1, maxLength: 4096 } as const;

export function authorityRoutes(app: FastifyInstance, s: ServerServices): void {
  const { manager } = s.lifecycle;

  app.get('/v1/authorities', { config: { action: 'authority.read' } }, async () => {
    const now = nowSeconds(s.clock);
    // What another replica prepared, rotated or tainted is listed here too, not after this one's next lifecycle check.
    await manager.adoptRecentChanges(now);
    const set = manager.current();
    const signingRoot = set.signingRoot();
    const authorities = await Promise.all(
      set.authorities.map(async (a): Promise<AuthorityView> => {
        const under = set.authorities.filter((b) => b === a || (a.record.kind === 'root' && set.rootOf(b) === a)).map((b) => b.record.id);
        return {
          id: a.record.id,
          kind: a.record.kind,
          state: a.record.state,
          signing: a === signingRoot || a === set.activeIntermediate(),
          inBundle: a.record.kind === 'root' && a.record.state !== 'retired',
          parent: a.record.parentId,
          subject: a.facts.x509.subject.replace(/\n/g, ', '),
          notBefore: isoTime(a.record.notBefore),
          notAfter: isoTime(a.record.notAfter),
          createdAt: isoTime(a.record.createdAt),
          activatedAt: a.record.activatedAt === null ? null : isoTime(a.record.activatedAt),
          retiredAt: a.record.retiredAt === null ? null : isoTime(a.record.retiredAt),
          taintedAt: a.record.taintedAt === null ? null : isoTime(a.record.taintedAt),
          keyHeld: a.record.keyRef !== null,
          liveSvids: await s.revocationStore.liveUnder(under, now),
        };
      }),
    );
    return { authorities, bundleSequence: set.bundleSequence };
  });

  app.post<{ Body: { importCertFile?: string; importKeyFile?: string } | null }>(
    '/v1/authorities/root/prepare',
    {
      config: { action: 'authority.write' },
      schema: {
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { importCertFile: importPath, importKeyFile: importPath },
        },
      },
    },
    async (request, reply) => {
      const { importCertFile, importKeyFile } = request.body ?? {};
      // A certificate alone is an organisation's root for a plug-in CA (prepareRoot refuses it anywhere else).
      if (importCertFile === undefined && importKeyFile !== undefined) throw new InvalidInputError('invalid_request', 'importKeyFile needs importCertFile');
      const imported = importCertFile !== undefined ? await readImport(request.authentication.caller, 'a root', { certFile: importCertFile, keyFile: importKeyFile }) : undefined;
      const root = await manager.prepareRoot(callerLabel(request.authentication.caller), imported);
      s.crls.invalidate();
      return reply.code(201).send({ id: root.record.id, state: root.record.state, bundleSequence: manager.current().bundleSequence });
    },
  );

  app.post<{ Body: { force?: boolean } | null }>(
    '/v1/authorities/root/activate',
    { config: { action: 'authority.write' }, schema: { body: forceBody } },
    async (request) => {
      const root = await manager.activateRoot(
        callerLabel(request.authentication.caller), s.lifecycle.rootPropagation, request.body?.force ?? false, s.lifecycle.agentsUnseenSince,
      );
      s.crls.invalidate();
      return { id: root.record.id, state: root.record.state, signingIntermediate: manager.current().activeIntermediate()?.record.id };
    },
  );

  app.post(
    '/v1/authorities/root/withdraw',
    { config: { action: 'authority.write' } },
    async (request) => {
      const root = await manager.withdrawRoot(callerLabel(request.authentication.caller));
      s.crls.invalidate();
      return { id: root.record.id, state: root.record.state, bundleSequence: manager.current().bundleSequence };
    },
  );

  app.post<{ Body: { force?: boolean } | null }>(
    '/v1/authorities/root/retire',
    { config: { action: 'authority.write' }, schema: { body: forceBody } },
    async (request) => {
      const { root, revoked } = await s.revocations.retireRoot(callerLabel(request.authentication.caller), request.body?.force ?? false);
      s.crls.invalidate();
      return { id: root.record.id, state: root.record.state, bundleSequence: manager.current().bundleSequence, revoked };
    },
  );

  app.post<{ Body: { certFile: string; keyFile: string; chainFile?: string; force?: boolean } }>(
    '/v1/authorities/intermediate/import',
    {
      config: { action: 'authority.write' },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['certFile', 'keyFile'],
          properties: { certFile: importPath, keyFile: importPath, chainFile: importPath, force: { type: 'boolean' } },
        },
      },
    },
    async (request, reply) => {
      const caller = request.authentication.caller;
      const { force = false, ...files } = request.body;
      const imported = await readImport(caller, 'an intermediate', files);
      const { intermediate, retired } = await manager.importIntermediate(imported, callerLabel(caller), {
        propagation: s.lifecycle.rootPropagation,
        unseenSince: s.lifecycle.agentsUnseenSince,
        force,
      });
      s.crls.invalidate();
      return reply.code(201).send({ id: intermediate.record.id, state: intermediate.record.state, retired: retired?.record.id ?? null });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/authorities/:id/taint',
    {
      config: { action: 'authority.write' },
      schema: { params: { type: 'object', required: ['id'], properties: { id: authorityIdSchema } } },
    },
    async (request) => {
      const revoked = await s.revocations.taint(request.params.id, callerLabel(request.authentication.caller));
      return { id: request.params.id, revoked, signingIntermediate: manager.current().activeIntermediate()?.record.id };
    },
  );

  app.get<{ Querystring: { rootHorizon?: string; intermediateHorizon?: string } }>(
    '/v1/doctor',
    {
      config: { action: 'authority.read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { rootHorizon: { type: 'string', maxLength: 12 }, intermediateHorizon: { type: 'string', maxLength: 12 } },
        },
      },
    },
    async (request) => {
      await manager.adoptRecentChanges(nowSeconds(s.clock));
      const intermediateHorizon = durationQuery('intermediateHorizon', request.query.intermediateHorizon);
      const findings = diagnose({
        set: manager.current(),
        now: nowSeconds(s.clock),
        rootHorizon: durationQuery('rootHorizon', request.query.rootHorizon) ?? s.lifecycle.rootHorizon,
        ...(intermediateHorizon ? { intermediateHorizon } : {}),
        lastRotationFailure: s.lifecycle.lastRotationFailure(),
        lastRecordingFailure: s.recording.lastFailure,
      });
      return { ok: findings.every((f) => f.status === 'ok'), findings };
    },
  );
}
