import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpError, ImageUploadResponse } from '../../protocol/http.js';
import { IMAGE_SIDE_MAX } from '../../protocol/protocol.js';
import type { HubLogger } from '../hub/Hub.js';
import type { Session } from '../hub/Session.js';
import type { ImageStore } from '../images/ImageStore.js';
import { sniffImage } from '../images/imageType.js';
import { IpLimiter } from './IpLimiter.js';

export interface ImageRouteOptions {
  images: ImageStore;
  /** The live session a `welcome` token belongs to. */
  sessionByToken: (token: string) => Session | undefined;
  maxBytes: number;
  logger: HubLogger;
  /** Uploads per user per minute, sustained, and at once. */
  perMinute?: number;
  burst?: number;
}

/**
 * Served images are data, never a document: the browser must not guess another type (nosniff),
 * nor run anything if someone opens one directly (a CSP with no sources, in a sandbox), and
 * other sites may not embed them.
 */
const IMAGE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Disposition': 'inline',
  'Content-Security-Policy': "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
  'Cross-Origin-Resource-Policy': 'same-origin',
  // An id names one image forever.
  'Cache-Control': 'private, max-age=31536000, immutable',
} as const;

function refuse(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  const body: HttpError = { error, message };
  return reply.code(status).send(body);
}

/**
 * POST /api/images: a signed-in user (Authorization: Bearer <token from welcome>) uploads one JPEG,
 * PNG or WebP, up to `maxBytes`, as the raw request body. The type is read from the bytes, not the
 * Content-Type or a file name. Answers 201 with the id to reference from a chat message.
 *
 * GET /api/images/<id>: the image, with the type found at upload and headers that keep it an image.
 * No sign-in: <img> cannot send a token, and the id (128 random bits) is the capability.
 */
export function registerImageRoutes(http: FastifyInstance, options: ImageRouteOptions): void {
  const limiter = new IpLimiter({ perMinute: options.perMinute ?? 30, burst: options.burst ?? 10 });

  void http.register((scope, _opts, done) => {
    // In this scope only: every body is raw bytes, whatever its Content-Type says.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.maxBytes }, (_req, body, next) => {
      next(null, body);
    });

    const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
      const match = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '');
      const session = match ? options.sessionByToken(match[1]!) : undefined;
      if (!session) {
        void reply.header('WWW-Authenticate', 'Bearer realm="parley"');
        return refuse(reply, 401, 'not_signed_in', 'sign in first: Authorization: Bearer <token from welcome>');
      }
      if (!limiter.take(session.id)) {
        void reply.header('Retry-After', '10');
        return refuse(reply, 429, 'rate_limited', 'too many uploads; wait a moment');
      }
      request.parleySession = session;
      return undefined;
    };

    scope.post(
      '/api/images',
      { bodyLimit: options.maxBytes, onRequest: authenticate },
      async (request, reply) => {
        const session = request.parleySession;
        const body = request.body;
        if (!session) return refuse(reply, 401, 'not_signed_in', 'sign in first');
        if (!Buffer.isBuffer(body) || body.length === 0) {
          return refuse(reply, 400, 'empty', 'send the image as the request body');
        }
        const info = sniffImage(body);
        if (!info || info.width > IMAGE_SIDE_MAX || info.height > IMAGE_SIDE_MAX) {
          return refuse(reply, 415, 'unsupported_type', 'only JPEG, PNG and WebP images are accepted');
        }
        const { id, meta } = await options.images.save(body, { ...info, uploader: session.id });
        options.logger.info({ user: session.id, image: id, type: meta.type, bytes: meta.bytes }, 'image stored');
        const result: ImageUploadResponse = {
          id,
          type: meta.type,
          width: meta.width,
          height: meta.height,
          bytes: meta.bytes,
        };
        return reply.code(201).header('Cache-Control', 'no-store').send(result);
      },
    );

    scope.get<{ Params: { id: string } }>('/api/images/:id', async (request, reply) => {
      const meta = await options.images.meta(request.params.id);
      if (!meta) return refuse(reply, 404, 'not_found', 'no such image');
      return reply
        .headers(IMAGE_HEADERS)
        .header('Content-Length', meta.bytes)
        .type(meta.type)
        .send(options.images.open(request.params.id));
    });
    done();
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the image upload's authentication. */
    parleySession?: Session;
  }
}
