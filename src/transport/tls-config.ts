/**
 * TLS mistakes are configuration errors, not network weather (issue 11, case 15): an untrusted hub
 * certificate, a wrong key passphrase, a key that does not match its certificate or a client certificate
 * the hub refuses fail the same way on every attempt, so the worker must stop and say which file or option
 * to fix instead of retrying forever with OpenSSL's text. {@link loadClientTls} checks the local half before
 * the first dial; {@link tlsConfigError} recognises the remote half in a failed handshake.
 */
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { ClaError, ErrorCode } from '../errors.ts';
import type { ClientTlsOptions } from './ws-client.ts';

/** The TLS files and passphrase as the user gave them (paths, for messages). */
export interface ClientTlsFiles {
  /** `--ca-cert`: CA certificate (PEM) to trust. */
  caCert?: string;
  /** `--cert`: client certificate (PEM). */
  cert?: string;
  /** `--cert-key`: the client certificate's key (PEM). */
  certKey?: string;
  /** `--cert-key-pass`: the key's passphrase. */
  certKeyPass?: string;
  /** `--no-verify-certs` was given. @default false */
  noVerifyCerts?: boolean;
}

function configError(message: string, cause?: unknown, data: Record<string, unknown> = {}): ClaError {
  return new ClaError(ErrorCode.TlsConfig, message, { cause, data, retryable: false });
}

/**
 * Reads the files and builds a TLS context once, so a wrong passphrase, an unreadable file or a key that
 * does not belong to the certificate is reported now, naming the option.
 * @throws ClaError `TLS_CONFIG`
 */
export function loadClientTls(files: ClientTlsFiles): ClientTlsOptions {
  const read = (file: string | undefined, option: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw configError(`Cannot read the ${option} file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): fix the path given to ${option}`, error, { option, path: file });
    }
  };
  const options: ClientTlsOptions = {
    ca: read(files.caCert, '--ca-cert'),
    cert: read(files.cert, '--cert'),
    key: read(files.certKey, '--cert-key'),
    passphrase: files.certKeyPass,
    verify: !files.noVerifyCerts,
  };
  try {
    tls.createSecureContext({ ca: options.ca, cert: options.cert, key: options.key, passphrase: options.passphrase });
  } catch (error) {
    throw localError(error, files, options.key);
  }
  return options;
}

/** True when `key` is an encrypted PEM key that `passphrase` (given) does not open. */
function encryptedKeyRefuses(key: string | Buffer | undefined, passphrase: string | undefined): boolean {
  if (key === undefined || passphrase === undefined || !key.includes('ENCRYPTED')) return false;
  try {
    createPrivateKey({ key, format: 'pem', passphrase });
    return false;
  } catch {
    return true; // the answer itself: the passphrase does not open the key
  }
}

/** A failed `createSecureContext` as a sentence about the option to fix. */
function localError(error: unknown, files: ClientTlsFiles, key: string | Buffer | undefined): ClaError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const text = `${code} ${(error as Error).message}`;
  // A wrong passphrase usually fails AES-CBC's padding check ("bad decrypt"), but about once in 256 the
  // padding passes and what fails is the decoding of the garbage (ASN.1 or decoder errors): an encrypted
  // key that does not decode with the passphrase given is the passphrase's fault either way.
  if (/BAD_DECRYPT|bad decrypt|BAD_PASSWORD_READ|bad password|interrupted or cancelled/i.test(text) || encryptedKeyRefuses(key, files.certKeyPass)) {
    const how = files.certKeyPass === undefined ? 'it is encrypted: pass its passphrase with --cert-key-pass' : 'the --cert-key-pass passphrase is wrong: fix it';
    return configError(`Cannot decrypt the client key ${files.certKey}: ${how}`, error, { option: '--cert-key-pass', path: files.certKey });
  }
  if (/KEY_VALUES_MISMATCH|key values mismatch/i.test(text)) {
    return configError(`The key ${files.certKey} (--cert-key) does not belong to the certificate ${files.cert} (--cert): pass the matching pair`, error, { option: '--cert-key', path: files.certKey });
  }
  if (files.caCert !== undefined && /X509|PEM|certificate|NO_START_LINE/i.test(text) && !/private key|KEY/i.test(text)) {
    return configError(`Cannot use the TLS certificates (${files.caCert} given to --ca-cert, ${files.cert ?? 'no --cert'}): ${(error as Error).message}. Pass PEM files`, error, { option: '--ca-cert' });
  }
  return configError(`Cannot use the TLS files (--ca-cert ${files.caCert ?? '-'}, --cert ${files.cert ?? '-'}, --cert-key ${files.certKey ?? '-'}): ${(error as Error).message}. Pass PEM files and the matching --cert-key-pass`, error);
}

/** Certificate verification failures of the hub's certificate (Node's codes, from OpenSSL's X509_V_ERR_*). */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
]);

/**
 * The configuration error a failed handshake stands for, or `undefined` for a network failure worth
 * retrying. `url` is the hub's, for the sentence.
 */
export function tlsConfigError(error: unknown, url: string, files: ClientTlsFiles = {}): ClaError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const detail = (error as Error | undefined)?.message ?? String(error);
  const data = { url, tlsCode: code };
  if (UNTRUSTED.has(code)) {
    const fix = files.caCert === undefined
      ? 'pass the CA certificate that signed it with --ca-cert FILE'
      : `${files.caCert} (--ca-cert) is not the CA that signed it: pass the right one`;
    return configError(`The hub at ${url} presented a certificate this worker does not trust (${detail}): ${fix}, or --no-verify-certs to skip the check`, error, { ...data, option: '--ca-cert' });
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return configError(`The hub at ${url} presented a certificate that is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not yet valid'}: renew the hub's --tls-cert (or check this machine's clock)`, error, { ...data, option: '--tls-cert' });
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return configError(`The hub's certificate does not name the host of ${url} (${detail}): use a --url host the certificate names, or a certificate for this name`, error, { ...data, option: '--url' });
  }
  if (code === 'ERR_OSSL_BAD_DECRYPT') return localError(error, files, undefined);
  if (/^ERR_SSL_(TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_HANDSHAKE_FAILURE)$/.test(code) && files.cert === undefined) {
    return configError(`The hub at ${url} requires a client certificate: pass --cert FILE and --cert-key FILE (and --cert-key-pass if the key is encrypted)`, error, { ...data, option: '--cert' });
  }
  if (/^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REQUIRED|DECRYPT_ERROR)$/.test(code)) {
    return configError(`The hub at ${url} refused the client certificate ${files.cert ?? ''} (--cert): ${detail.replace(/^.*alert /, 'alert ').split(':')[0]}. Use a certificate signed by the CA the hub trusts (its --client-ca)`, error, { ...data, option: '--cert' });
  }
  return undefined;
}

/** The hub's 403 `X-Cla-Reason` for a client certificate, as a sentence about the option to fix. */
export function clientCertRefused(url: string, reason: string, files: ClientTlsFiles = {}): ClaError {
  const data = { url, reason };
  if (files.cert === undefined) {
    return configError(`The hub at ${url} requires a client certificate: pass --cert FILE and --cert-key FILE (and --cert-key-pass if the key is encrypted)`, undefined, { ...data, option: '--cert' });
  }
  return configError(`The hub at ${url} refused the client certificate ${files.cert} (--cert): ${reason}. Use a certificate signed by the CA the hub trusts (its --client-ca)`, undefined, { ...data, option: '--cert' });
}
