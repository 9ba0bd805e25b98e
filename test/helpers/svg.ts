// Reads an SVG document with a real XML parser (Python's xml.etree, installed
// on every machine the tests run on) and returns what the charts' tests check:
// it throws on anything that is not well-formed XML.
import { spawnSync } from 'node:child_process'
import { hasCommand, type Prerequisite } from './prereq.js'

/** The parser's prerequisite, for prerequisite() (test/helpers/prereq.ts). */
export const PYTHON3: Prerequisite = { name: 'python3', available: hasCommand('python3'), install: 'apt-get install python3' }

export interface ParsedBar { label: string, value: number, x: number, width: number, title: string }
export interface ParsedSvg { root: string, width: number, height: number, bars: ParsedBar[], labels: string[], values: string[], groups: string[] }

const SCRIPT = `
import sys, json, xml.etree.ElementTree as ET
NS = '{http://www.w3.org/2000/svg}'
root = ET.fromstring(sys.stdin.buffer.read())
def texts(cls):
    return [''.join(t.itertext()) for t in root.iter(NS + 'text') if t.get('class') == cls]
bars = [{'label': r.get('data-label'), 'value': float(r.get('data-value')), 'x': float(r.get('x')),
         'width': float(r.get('width')), 'title': ''.join(r.find(NS + 'title').itertext())}
        for r in root.iter(NS + 'rect') if r.get('class') == 'bar']
print(json.dumps({'root': root.tag, 'width': float(root.get('width')), 'height': float(root.get('height')),
                  'bars': bars, 'labels': texts('label'), 'values': texts('value'), 'groups': texts('group')}))
`

export function parseSvg (svg: string): ParsedSvg {
  const r = spawnSync('python3', ['-c', SCRIPT], { input: svg, encoding: 'utf8', timeout: 30000 })
  if (r.status !== 0) throw new Error(`not well-formed SVG: ${r.stderr || r.error?.message}`)
  return JSON.parse(r.stdout) as ParsedSvg
}
