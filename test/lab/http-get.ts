/**
 * A script for `node -e <script> <url>` inside a container or namespace (busybox's wget segfaults on
 * this machine): prints the body and exits 0; exits 1 on an error, 2 after `timeoutMs` without an answer.
 */
export function httpGetScript(timeoutMs: number): string {
  return (
    `const r=require('http').get(process.argv[1],{timeout:${timeoutMs}},res=>{let d='';res.on('data',c=>d+=c);res.on('end',()=>{process.stdout.write(d);process.exit(0)})});` +
    "r.on('timeout',()=>{r.destroy();process.exit(2)});r.on('error',()=>process.exit(1));"
  );
}
