// Authentication of every call but health checks (probes must get through): an optional bearer
// token in the `authorization` metadata, and with mutual TLS a client certificate issued by the
// configured CA. Failures answer UNAUTHENTICATED and are logged without the secret.
import { createHash, timingSafeEqual, X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log.js";

export interface AuthOptions {
  /** Calls must carry `authorization: Bearer <token>`. */
  token?: string;
  /** Calls must come over TLS with a client certificate this CA issued (mutual TLS). */
  clientCa?: X509Certificate;
}

const OPEN_PREFIX = "/grpc.health.v1.Health/";
const digest = (s: string) => createHash("sha256").update(s).digest();

function tokenProblem(metadata: grpc.Metadata, token: string): string | undefined {
  const header = metadata.get("authorization")[0];
  if (typeof header !== "string" || header === "") return "missing bearer token";
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (!match) return "authorization is not a bearer token";
  // Equal-length digests, so the comparison takes the same time whatever the token.
  return timingSafeEqual(digest(match[1] as string), digest(token)) ? undefined : "wrong bearer token";
}

function certificateProblem(call: grpc.ServerInterceptingCallInterface, ca: X509Certificate): string | undefined {
  // grpc-js shows a peer certificate only when the TLS handshake verified it against the CA.
  const peer = call.getAuthContext().sslPeerCertificate;
  if (!peer?.raw) return "no client certificate issued by the configured CA";
  const cert = new X509Certificate(peer.raw);
  const now = Date.now();
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return "client certificate not issued by the configured CA";
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo))
    return "client certificate expired or not yet valid";
  return undefined;
}

export function authInterceptor(opts: AuthOptions, log: Logger): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            if (method.path.startsWith(OPEN_PREFIX)) return mdNext(metadata);
            const problem =
              (opts.clientCa && certificateProblem(call, opts.clientCa)) ||
              (opts.token !== undefined ? tokenProblem(metadata, opts.token) : undefined);
            if (!problem) return mdNext(metadata);
            log.warn("unauthenticated call", { method: method.path, reason: problem, peer: call.getPeer() });
            call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: problem, metadata: new grpc.Metadata() });
          },
        });
      },
    });
}
