// Server transport security from configuration: plaintext (the loopback default), TLS with a
// certificate and key, or mutual TLS that also asks clients for a certificate from a given CA;
// plus an optional bearer token. Files are read and checked at start, with messages naming them.

import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import { createSecureContext } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { AuthOptions } from "./api/auth-interceptor.js";

export interface SecurityOptions {
  /** PEM certificate chain of the server; with tlsKey turns TLS on. */
  tlsCert?: string;
  /** PEM private key of the server. */
  tlsKey?: string;
  /** PEM CA whose client certificates are accepted: turns mutual TLS on. */
  tlsClientCa?: string;
  /** Bearer token every call but health checks must carry. */
  authToken?: string;
}

// Certificates are re-read this often, so a rotated certificate is picked up without a restart.
const CERT_REFRESH_MS = 60_000;

function readPem(setting: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

export interface ServerSecurity {
  credentials: grpc.ServerCredentials;
  auth: AuthOptions | undefined;
  /**
   * For credentials loaded in the background (mutual TLS): resolves once they are, and keeps them
   * loaded until the returned release is called, so no early connection is dropped.
   */
  loaded?: () => Promise<() => void>;
}

/** Resolves when `provider` has delivered both its CA and its identity. */
function whenLoaded(provider: grpc.experimental.CertificateProvider): Promise<() => void> {
  return new Promise((resolve) => {
    let ca = false;
    let identity = false;
    const release = () => {
      provider.removeCaCertificateListener(onCa);
      provider.removeIdentityCertificateListener(onIdentity);
    };
    const check = () => {
      if (ca && identity) resolve(release);
    };
    const onCa = (update: unknown) => {
      ca = update !== null;
      check();
    };
    const onIdentity = (update: unknown) => {
      identity = update !== null;
      check();
    };
    provider.addCaCertificateListener(onCa);
    provider.addIdentityCertificateListener(onIdentity);
  });
}

export function serverSecurity(o: SecurityOptions): ServerSecurity {
  if (o.authToken !== undefined && o.authToken.trim() === "") throw new Error("auth token: must not be empty");
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error("tls-cert and tls-key: give both or neither");
  if (o.tlsClientCa && !o.tlsCert) throw new Error("tls-client-ca: mutual TLS needs tls-cert and tls-key too");
  const auth: AuthOptions = o.authToken !== undefined ? { token: o.authToken } : {};
  if (!o.tlsCert || !o.tlsKey) {
    return { credentials: grpc.ServerCredentials.createInsecure(), auth: auth.token !== undefined ? auth : undefined };
  }
  const cert = readPem("tls-cert", o.tlsCert);
  const key = readPem("tls-key", o.tlsKey);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`tls-cert / tls-key: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!o.tlsClientCa) {
    return {
      credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false),
      auth: auth.token !== undefined ? auth : undefined,
    };
  }
  const caPem = readPem("tls-client-ca", o.tlsClientCa);
  let clientCa: X509Certificate;
  try {
    clientCa = new X509Certificate(caPem);
  } catch (err) {
    throw new Error(
      `tls-client-ca: ${o.tlsClientCa} is not a PEM certificate (${err instanceof Error ? err.message : err})`,
    );
  }
  // Client certificates are requested but checked by the auth interceptor rather than the TLS
  // handshake, so that a wrong one gets UNAUTHENTICATED with a reason instead of a dropped connection.
  // One provider for both: with two, each one's update reports the other's part as missing.
  const files = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: o.tlsCert,
    privateKeyFile: o.tlsKey,
    caCertificateFile: o.tlsClientCa,
    refreshIntervalMs: CERT_REFRESH_MS,
  });
  return {
    credentials: grpc.experimental.createCertificateProviderServerCredentials(files, files, false),
    auth: { ...auth, clientCa },
    loaded: () => whenLoaded(files),
  };
}
