"""Check the lessons' committed outputs: `python tools/check_outputs.py` (run by `make test`).

Fails, naming the lesson and what to do, when
- a lesson committed with outputs has a code cell with no stamp, or a stamp that is not the hash of its current source: the code changed
  since `make outputs` ran (tools/make_outputs.py), so the stored outputs may show something else;
- a lesson is larger than 2.5 MB (figures too big; lesson 1 holds seven readable figures in 2.1 MB);
- an output holds a machine path
  (`/root/`, `/home/`, `/work/`, `/tmp/`, `/Users/`);
- a lesson is committed without any outputs;
- what a learner sees is wrong (`rendered_problems`, also applied by tools/run_tests.py to every notebook it
  executes): a NaN/None in a shown table, a `record_results` table whose values are not the recorded ones, an error
  or traceback, an empty widget/progress-bar output, a figure under 320x160 pixels;
- the committed run's recorded results miss the rules of `lessons/checks/<lesson>.cpu.json` (where there is one: what
  a lesson's prose claims of its `cpu` run, such as lesson 4b's fine-tuning gain beyond noise).
`python tools/check_outputs.py --self-test` shows that each of those rules can fail (main runs it first).
"""
import re, sys, json, html, math, base64
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_outputs import ROOT, source_sha

MAX_BYTES = int(2.5 * 2**20)
MACHINE_PATH = re.compile(r'(?<![\w.])/(root|home|work|tmp|Users)/')
RESULTS_MIME = 'application/vnd.transfervision.results+json'   # what record_results recorded, beside the table it shows
MIN_PX = (320, 160)    # smallest width and height (pixels) of a figure a learner can read (a strip of image tiles: 3 across 7.5 inches, not 4 across 8)
NAN_CELL = re.compile(r'<td[^>]*>\s*(NaN|nan|None|&lt;NA&gt;|<NA>|NaT)\s*</td>')
ROW = re.compile(r'<tr>\s*<th[^>]*>([^<]*)</th>\s*<td[^>]*>([^<]*)</td>\s*</tr>')
WIDGET_REPR = re.compile(r'^[A-Za-z_][\w.]*\(')   # e.g. VBox(children=...
TAGS, STYLE = re.compile(r'<[^>]+>'), re.compile(r'<style.*?</style>', re.S)

def _text(v) -> str: return v if isinstance(v, str) else ''.join(v)

def png_size(b64: str) -> tuple[int, int]:
    "Width and height of a base64 PNG, from its IHDR header."
    head = base64.b64decode(_text(b64).replace('\n', '')[:64])
    return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')

def shown_results(html_table: str) -> dict[str, str]:
    "The rows (name -> shown value) of a one-column HTML table, as pandas renders it."
    return {html.unescape(TAGS.sub('', k)).strip(): html.unescape(TAGS.sub('', v)).strip()
            for k, v in ROW.findall(html_table)}

def same_value(shown: str, recorded) -> bool:
    "Whether the text `shown` in a table is the `recorded` value (numbers compared as numbers)."
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        try: return math.isclose(float(shown), float(recorded), rel_tol=1e-9, abs_tol=1e-12)
        except ValueError: return False
    return shown == str(recorded)

# what fastai's Recorder prints for an epoch when no ProgressCallback turns it into a table: [0, 0.57, 0.14, ..., '00:00']
RAW_EPOCH = re.compile(r"(?m)^\[\d+, [-+\d.e]+(?:, [^\]]*)?, '\d\d:\d\d'\]$")

def rule_problems(spec: dict, got: dict) -> list[str]:
    "How the recorded results `got` (name -> value) miss the rules `spec` (name -> {min, max, equals, why}) of lessons/checks/."
    out = []
    for key, rule in spec.items():
        if key not in got: out.append(f"{key} was not recorded"); continue
        v, why = got[key], f" ({rule['why']})" if rule.get('why') else ''
        if 'min' in rule and not v >= rule['min']: out.append(f"{key} = {v}, below the floor {rule['min']}{why}")
        if 'max' in rule and not v <= rule['max']: out.append(f"{key} = {v}, above the ceiling {rule['max']}{why}")
        if 'equals' in rule and v != rule['equals']: out.append(f"{key} = {v}, expected {rule['equals']}{why}")
    return out

def committed_results(nb: dict) -> dict | None:
    "The values the lesson's `record_results` cell recorded, as committed (None when it shows none)."
    for c in nb.get('cells', []):
        for o in c.get('outputs', []):
            if RESULTS_MIME in o.get('data', {}): return o['data'][RESULTS_MIME].get('values', {})
    return None

def rendered_problems(nb: dict) -> list[str]:
    """What a learner would see wrong in the outputs of notebook `nb` (as a dict): a NaN/None in a shown table,
    a `record_results` table that does not show what it recorded, an error, an empty widget/progress output,
    a figure smaller than `MIN_PX`."""
    out = []
    for i, c in enumerate(nb.get('cells', [])):
        if c.get('cell_type') != 'code': continue
        src, outputs = _text(c.get('source', '')), c.get('outputs', [])
        recorded, prev = None, {}
        for o in outputs:
            t, data = o.get('output_type'), o.get('data', {})
            # Jupyter shows consecutive stream outputs of one name as one text: a lone newline after a print is not empty
            joined = t == 'stream' and prev.get('output_type') == 'stream' and prev.get('name') == o.get('name')
            prev = o
            if t == 'error': out.append(f"cell {i} shows an error ({o.get('ename', '?')}: {o.get('evalue', '')[:80]})")
            if t == 'stream':
                s = _text(o.get('text', ''))
                if 'Traceback (most recent call last)' in s: out.append(f"cell {i} prints a traceback")
                elif not s.strip() and not joined: out.append(f"cell {i} has an empty {o.get('name', 'stream')} output")
                elif RAW_EPOCH.search(s):
                    out.append(f"cell {i} prints an epoch as a bare list (fastai without its ProgressCallback, e.g. inside "
                               f"`learn.no_bar()`): train outside no_bar() so the table with column names shows")
            if t not in ('display_data', 'execute_result'): continue
            h = _text(data.get('text/html', ''))
            if 'application/vnd.jupyter.widget-view+json' in data:   # saved without its state: only text/plain is seen
                if WIDGET_REPR.match(_text(data.get('text/plain', '')).strip() or 'X('):
                    out.append(f"cell {i} shows a widget that a saved notebook shows as empty or as its Python repr: "
                               f"display it with a text/plain line saying what appears there")
            elif data and not any(k.startswith('image/') for k in data) and (   # (a lone <style> is fastprogress' CSS, shown once)
                    not STYLE.search(h) and not TAGS.sub('', h).strip() if 'text/html' in data else
                    _text(data.get('text/plain', '')).strip() in ('', '<IPython.core.display.HTML object>')):
                out.append(f"cell {i} has an empty output (a finished progress bar?): run it inside `with learn.no_bar():`")
            if m := NAN_CELL.search(h): out.append(f"cell {i} shows {html.unescape(m.group(1))} in a table")
            for mime, b64 in data.items():
                if mime.startswith('image/') and mime != 'image/svg+xml':
                    try: w, hgt = png_size(b64) if mime == 'image/png' else MIN_PX
                    except Exception: w, hgt = 0, 0
                    meta = o.get('metadata', {}).get(mime, {})
                    w, hgt = meta.get('width', w), meta.get('height', hgt)
                    if w < MIN_PX[0] or hgt < MIN_PX[1]:
                        out.append(f"cell {i} shows a {w}x{hgt} px figure, under {MIN_PX[0]}x{MIN_PX[1]}: make it larger")
            if RESULTS_MIME in data: recorded = (data[RESULTS_MIME], h)
        if re.search(r'(?m)^[^#\n]*\brecord_results\(', src) and outputs is not None and any(
                o.get('output_type') != 'stream' for o in outputs) or recorded:
            if recorded is None:
                out.append(f"cell {i} calls record_results but shows no recorded table: run it again with the current package")
                continue
            values, shown = recorded[0].get('values', {}), shown_results(recorded[1])
            for k, v in values.items():
                if k not in shown: out.append(f"cell {i}: recorded {k} = {v!r} is not in the table it shows")
                elif not same_value(shown[k], v): out.append(f"cell {i}: {k} shown as {shown[k]!r}, recorded as {v!r}")
    return list(dict.fromkeys(out))   # once per cell and problem (fastai prints one line per epoch)


def _png(w: int, h: int) -> str:
    "A base64 PNG header of `w`x`h` pixels (enough for `png_size`)."
    ihdr = b'IHDR' + w.to_bytes(4, 'big') + h.to_bytes(4, 'big') + bytes([8, 2, 0, 0, 0])
    return base64.b64encode(b'\x89PNG\r\n\x1a\n' + (13).to_bytes(4, 'big') + ihdr + b'\0' * 4).decode()

def _cell(src: str, *outputs) -> dict: return {'cell_type': 'code', 'source': src, 'metadata': {}, 'outputs': list(outputs)}
def _shown(data: dict, t: str = 'display_data') -> dict: return {'output_type': t, 'data': data, 'metadata': {}}
def _table(rows: dict) -> str:
    body = ''.join(f'<tr>\n      <th>{k}</th>\n      <td>{v}</td>\n    </tr>' for k, v in rows.items())
    head = ('<thead>\n    <tr style="text-align: right;">\n      <th></th>\n      <th>value</th>\n    </tr>\n    <tr>\n'
            '      <th>lesson</th>\n      <th></th>\n    </tr>\n  </thead>')   # pandas' header, with the index's name
    return f'<table border="1" class="dataframe">\n  {head}\n  <tbody>\n    {body}\n  </tbody>\n</table>'
def _recorded(rows: dict, values: dict) -> dict:
    return _shown({'text/html': _table(rows), 'text/plain': 'value', RESULTS_MIME: {'lesson': 'x', 'values': values}},
                  'execute_result')

def self_test():
    "Each rule of `rendered_problems` fires on a notebook crafted to break it, and stays quiet on a good one."
    good = {'cells': [{'cell_type': 'markdown', 'source': '# x'},
                      _cell('print(1)', {'output_type': 'stream', 'name': 'stdout', 'text': '1\n'}),
                      _cell('print(2)', {'output_type': 'stream', 'name': 'stdout', 'text': '2'},   # the newline sent apart
                            {'output_type': 'stream', 'name': 'stdout', 'text': '\n'}),
                      _cell('learn.fit(1)', _shown({'text/html': '\n<style>\n progress {}\n</style>\n',   # fastprogress' CSS
                                                    'text/plain': '<IPython.core.display.HTML object>'})),
                      _cell('plot()', _shown({'image/png': _png(640, 480), 'text/plain': '<Figure>'})),
                      _cell('display(button)', _shown({'application/vnd.jupyter.widget-view+json': {'model_id': 'x'},
                                                       'text/plain': 'An upload button appears here in Jupyter.'})),
                      _cell("RESULTS = record_results('x', acc=0.75, n=74, arch='lite0')\nRESULTS",
                            _recorded({'acc': '0.75', 'n': '74', 'arch': 'lite0'}, {'acc': 0.75, 'n': 74, 'arch': 'lite0'}))]}
    assert rendered_problems(good) == [], rendered_problems(good)
    bad = {  # rule -> a notebook that breaks it, and a word its message must contain
        'NaN in a table': ([_cell('df', _shown({'text/html': _table({'acc': 'NaN'})}, 'execute_result'))], 'NaN'),
        'raw epoch list': ([_cell('learn.fit(1)', {'output_type': 'stream', 'name': 'stdout',
                                                    'text': "[0, 0.57, 0.14, 0.04, 0.95, '00:00']\n"})], 'bare list'),
        'None in a table': ([_cell('df', _shown({'text/html': _table({'acc': 'None'})}, 'execute_result'))], 'None'),
        'shown != recorded': ([_cell("record_results('x', acc=0.75)", _recorded({'acc': '0.7'}, {'acc': 0.75}))], 'shown as'),
        'recorded, not shown': ([_cell("record_results('x', acc=0.75, n=3)", _recorded({'acc': '0.75'}, {'acc': 0.75, 'n': 3}))], 'not in the table'),
        'record_results without its table': ([_cell("R = record_results('x', a=1)\npd.DataFrame()",
                                                    _shown({'text/plain': 'Empty DataFrame'}, 'execute_result'))], 'shows no recorded table'),
        'error output': ([_cell('1/0', {'output_type': 'error', 'ename': 'ZeroDivisionError', 'evalue': 'division by zero', 'traceback': []})], 'error'),
        'traceback printed': ([_cell('f()', {'output_type': 'stream', 'name': 'stderr', 'text': 'Traceback (most recent call last):\n'})], 'traceback'),
        'empty progress bar': ([_cell('interp = I()', _shown({'text/html': [], 'text/plain': '<IPython.core.display.HTML object>'}))],
                               'empty output'),
        'empty html div': ([_cell('learn.lr_find()', _shown({'text/html': '<div></div>', 'text/markdown': '```html\n<div></div>\n```',
                                                                'text/plain': '<div></div>'}))], 'empty output'),
        'empty stream': ([_cell('f()', {'output_type': 'stream', 'name': 'stdout', 'text': '\n'})], 'empty stdout'),
        'widget shown as its repr': ([_cell('w', _shown({'application/vnd.jupyter.widget-view+json': {'model_id': 'x'},
                                                         'text/plain': "VBox(children=(Label(value='Upload'),))"}))], 'widget'),
        'widget with no text': ([_cell('w', _shown({'application/vnd.jupyter.widget-view+json': {'model_id': 'x'}}))], 'widget'),
        'small figure': ([_cell('plot()', _shown({'image/png': _png(300, 300), 'text/plain': '<Figure>'}))], '300x300'),
        'figure shown small': ([_cell('plot()', {**_shown({'image/png': _png(900, 900)}), 'metadata': {'image/png': {'width': 200}}})], 'under'),
    }
    for rule, (cells, word) in bad.items():
        got = rendered_problems({'cells': cells})
        assert any(word in g for g in got), f"rule '{rule}' did not fire: {got}"
    # the committed run's rules (lessons/checks/<lesson>.cpu.json): read from the recorded output, each kind can fail
    got = committed_results(good)
    assert got == {'acc': 0.75, 'n': 74, 'arch': 'lite0'} and committed_results({'cells': []}) is None, got
    spec = {'acc': {'min': 0.5}, 'n': {'max': 100}, 'arch': {'equals': 'lite0'}}
    assert rule_problems(spec, got) == [], rule_problems(spec, got)
    for broken, word in [({'acc': {'min': 0.8}}, 'below'), ({'n': {'max': 50}}, 'above'), ({'arch': {'equals': 'x'}}, 'expected'),
                         ({'gain': {'equals': True}}, 'not recorded')]:
        assert any(word in g for g in rule_problems(broken, got)), (broken, rule_problems(broken, got))
    return len(bad)

def problems(path: Path) -> list[str]:
    nb, out = json.loads(path.read_text()), []
    if path.stat().st_size > MAX_BYTES:
        out.append(f"{path.stat().st_size / 2**20:.2f} MB, over {MAX_BYTES / 2**20:.1f} MB: make its figures smaller")
    stale, code_cells = [], [c for c in nb['cells'] if c['cell_type'] == 'code']
    if not any(c.get('outputs') for c in code_cells):
        return out + ["committed without outputs: run `make outputs` (tools/make_outputs.py) and commit the lesson"]
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source'])
        if c.get('metadata', {}).get('transfervision', {}).get('source_sha') != source_sha(src): stale.append(i)
        for o in c.get('outputs', []):
            text = ''.join(o.get('text', '')) + ''.join(''.join(v) for k, v in o.get('data', {}).items() if k.startswith('text/'))
            if m := MACHINE_PATH.search(text): out.append(f"cell {i} shows a machine path ({m.group(0)}...)")
    out += rendered_problems(nb)
    # what the committed (`cpu`) run must show: lessons/checks/<lesson>.cpu.json, e.g. lesson 4b's fine-tuning gain
    if (spec := ROOT/'lessons'/'checks'/f'{path.stem}.cpu.json').exists():
        got = committed_results(nb)
        out += ["records no results (its record_results cell has no output)"] if got is None else \
               [f"committed run: {p}" for p in rule_problems(json.loads(spec.read_text()), got)]
    if stale: out.append(f"code changed since its outputs were made (cells {', '.join(map(str, stale[:8]))}"
                         f"{', ...' if len(stale) > 8 else ''}): run `make outputs`")
    return out

def main():
    print(f"rendered_problems: each of its {self_test()} rules fails a notebook crafted to break it")
    if '--self-test' in sys.argv: return 0
    bad = {p.name: pr for p in sorted((ROOT/'lessons').glob('*.ipynb')) if (pr := problems(p))}
    for name, pr in bad.items(): print(f"lessons/{name}: " + '; '.join(pr))
    if not bad: print("every lesson's outputs were made from its current code")
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
