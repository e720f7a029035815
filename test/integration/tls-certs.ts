/**
 * Test certificates made with the openssl CLI: a CA, a server certificate for 127.0.0.1/localhost and a
 * client certificate (with an encrypted key), all signed by the CA.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Paths of the generated PEM files. */
export interface TestCerts {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  clientKeyPass: string;
}

/** Generates the certificates in `dir`. */
export function makeCerts(dir: string): TestCerts {
  const file = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=cla-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  const ext = file('server.ext');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${ext}`]);
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', ext);
  const pass = 'client-secret';
  ssl('req', '-newkey', 'rsa:2048', '-passout', `pass:${pass}`, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=cla-test-worker');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
  return {
    ca: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    clientKeyPass: pass,
  };
}
