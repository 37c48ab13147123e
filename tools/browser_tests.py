"""Real-browser tests: Debian's chromium driven by Selenium through chromedriver (nothing is downloaded).

1. jupyterlab: JupyterLab on 127.0.0.1 (with a token) over a temporary copy of lessons 0 and 5; each lesson is
   opened in the browser and run with Run > Run All Cells; no cell may end with an error, and lesson 5's upload
   widget, given a held-back Doraemon/Wall-E image through its file input, must print the right prediction.
   Screenshot: _runs/jupyterlab.png.
2. demo: the Gradio app of `transfervision demo` on 127.0.0.1 (a free port); a held-back image is uploaded through
   the page's file input and the label shown must be its class; a text file named .jpg must give a message and
   no label. Screenshot: _runs/demo.png; with `--figure`, also a small copy (700 px wide, 64 colours) for lesson 6 at
   lessons/images/06_demo.png, the picture of the running demo that lesson shows (commit it when it changed). The model is the one lesson 5 exported in test 1, or, if that test did
   not get that far, one trained with `transfervision train doraemon_walle --budget test --epochs 1`.

Every server binds 127.0.0.1 only, runs in its own process group and is stopped in `finally`. Each test prints
PASS or FAIL; the script exits with 1 if any failed. Needs chromium and chromedriver on PATH
(`apt-get install chromium chromium-driver`), selenium (`pip install selenium`), and TRANSFERVISION_DATA pointing at
the offline samples. Usage: `python tools/browser_tests.py [--only demo|jupyterlab] [--keep] [--figure]`.
"""
import argparse, os, secrets, shutil, signal, socket, subprocess, sys, tempfile, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RUNS = ROOT/'_runs'
CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage', '--window-size=1400,1000']
results = []   # (name, ok, seconds, detail)


# ---------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def wait_http(url, proc, timeout=120):
    "Wait until `url` answers (any HTTP status) while `proc` is alive."
    import urllib.request, urllib.error
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise RuntimeError(f"server exited with status {proc.returncode} before answering")
        try:
            urllib.request.urlopen(url, timeout=5); return
        except urllib.error.HTTPError: return
        except OSError: time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")

def start_server(cmd, log, env=None, cwd=None):
    "Start `cmd` in its own process group (so that stopping it also stops its children), output to `log`."
    f = open(log, 'w')
    return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)

def stop_server(proc):
    if proc is None or proc.poll() is not None: return
    try: os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError: return
    try: proc.wait(15)
    except subprocess.TimeoutExpired:
        try: os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError: pass
        proc.wait(5)

def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which('chromium')
    for a in CHROME_FLAGS + [f'--user-data-dir={profile}']: opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which('chromedriver')), options=opts)

def wait_for(pred, timeout, what, every=0.5):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v: return v
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

def record(name, t0, err=None):
    dt = time.time() - t0
    results.append((name, err is None, dt, err or ''))
    print(f"{'PASS' if err is None else 'FAIL'}  {name}  ({dt:.0f} s){'' if err is None else chr(10) + err}", flush=True)

def env_for_lessons():
    env = {**os.environ, 'TRANSFERVISION_BUDGET': 'test', 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'),
           'MPLBACKEND': 'Agg', 'PYTHONUNBUFFERED': '1', 'GRADIO_ANALYTICS_ENABLED': 'False'}
    return env

def held_back_image(name='walle.113.jpg') -> Path:
    data = os.environ.get('TRANSFERVISION_DATA')
    if not data: raise RuntimeError("TRANSFERVISION_DATA is not set: it must point at the offline dataset samples")
    f = Path(data)/'doraemon-walle'/'imgs'/'test'/name
    if not f.is_file(): raise FileNotFoundError(f"held-back image missing: {f}")
    return f


# ---------------------------------------------------------------- JupyterLab
JS_CELLS = """
const app = window.jupyterapp; const w = app && app.shell.currentWidget;
if (!w || !w.content || !w.content.model) return null;
const out = [];
for (const cell of w.content.model.cells) {
  if (cell.type !== 'code') continue;
  const outs = cell.outputs.toJSON();
  out.push({count: cell.executionCount, errors: outs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
            src: cell.sharedModel.getSource().slice(0, 60)});
}
const sc = w.sessionContext;
return {cells: out, kernel: sc && sc.session && sc.session.kernel ? sc.session.kernel.status : 'none',
        path: w.context.path};
"""

def run_all_cells(drv, timeout):
    "Run > Run All Cells through the menu bar, then wait until every code cell has an execution count or one failed."
    from selenium.webdriver.common.by import By
    def idle():
        dismiss_dialogs(drv)              # a notebook without kernel metadata asks which kernel: accept Python 3
        return (drv.execute_script(JS_CELLS) or {}).get('kernel') == 'idle'
    wait_for(idle, 90, 'the kernel to be idle')
    # The Run menu of the menu bar, then its "Run All Cells" item, as a person would click them.
    menu = wait_for(lambda: [e for e in drv.find_elements(By.CSS_SELECTOR, '.lm-MenuBar-item') if e.text.strip() == 'Run'],
                    30, 'the Run menu')[0]
    def item():
        return (drv.find_elements(By.CSS_SELECTOR, '.lm-Menu-item[data-command="notebook:run-all-cells"]') or
                drv.find_elements(By.XPATH, "//li[contains(@class,'lm-Menu-item')][.//*[normalize-space()='Run All Cells']]"))
    for _ in range(3):
        menu.click()
        try: wait_for(item, 5, 'Run All Cells in the Run menu')[0].click(); break
        except TimeoutError: drv.find_element(By.TAG_NAME, 'body').send_keys('\ue00c')   # Escape, then retry
    else:
        menus = [e.text[:300] for e in drv.find_elements(By.CSS_SELECTOR, '.lm-Menu')]
        raise TimeoutError(f"the Run menu never showed 'Run All Cells'; open menus: {menus}")
    def done():
        st = drv.execute_script(JS_CELLS)
        if not st: return None
        if any(c['errors'] for c in st['cells']): return st
        if st['kernel'] == 'idle' and all(c['count'] for c in st['cells']): return st
        return None
    time.sleep(1)
    return wait_for(done, timeout, 'all cells to finish', every=1)

def open_notebook(drv, base, token, rel):
    drv.get(f"{base}/lab/tree/{rel}?token={token}")
    wait_for(lambda: (drv.execute_script(JS_CELLS) or {}).get('path') == rel, 90, f'{rel} to open')

def dismiss_dialogs(drv):
    "Accept a dialog JupyterLab shows (the kernel choice for a notebook without kernel metadata)."
    from selenium.webdriver.common.by import By
    for b in drv.find_elements(By.CSS_SELECTOR, '.jp-Dialog .jp-mod-accept'):
        try: b.click()
        except Exception: pass

def test_jupyterlab(tmp, state):
    from selenium.webdriver.common.by import By
    t0 = time.time(); proc = drv = None
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        work = tmp/'course'
        (work/'lessons').mkdir(parents=True)
        for nb in ('00_setup.ipynb', '05_your_own_images.ipynb'): shutil.copy(ROOT/'lessons'/nb, work/'lessons'/nb)
        port, token = free_port(), secrets.token_hex(16)
        env = env_for_lessons()
        for k in ('JUPYTER_CONFIG_DIR', 'JUPYTER_RUNTIME_DIR', 'JUPYTER_DATA_DIR', 'IPYTHONDIR'):
            env[k] = str(tmp/k.lower()); (tmp/k.lower()).mkdir()
        env['JUPYTERLAB_SETTINGS_DIR'] = str(tmp/'lab-settings'); env['JUPYTERLAB_WORKSPACES_DIR'] = str(tmp/'lab-ws')
        # Fresh user settings: every cell stays in the page (by default JupyterLab may leave cells far off-screen out
        # of it, and with them lesson 5's upload widget), and no news pop-up.
        (tmp/'lab-settings'/'@jupyterlab'/'notebook-extension').mkdir(parents=True)
        (tmp/'lab-settings'/'@jupyterlab'/'notebook-extension'/'tracker.jupyterlab-settings').write_text('{"windowingMode": "none"}')
        (tmp/'lab-settings'/'@jupyterlab'/'apputils-extension').mkdir(parents=True)
        (tmp/'lab-settings'/'@jupyterlab'/'apputils-extension'/'notification.jupyterlab-settings').write_text('{"fetchNews": "false"}')
        proc = start_server([str(BIN/'jupyter'), 'lab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                             f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={work}',
                             '--expose-app-in-browser', '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
                             '--LabApp.extension_manager=readonly'] + (['--allow-root'] if os.geteuid() == 0 else []),
                            tmp/'jupyterlab.log', env=env, cwd=work)
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", proc, timeout=90)
        drv = browser(tmp/'chrome-lab')
        state['jlab_timings'] = {}
        for rel, timeout in (('lessons/00_setup.ipynb', 120), ('lessons/05_your_own_images.ipynb', 330)):
            t1 = time.time()
            open_notebook(drv, base, token, rel); dismiss_dialogs(drv)
            st = run_all_cells(drv, timeout)
            bad = [(c['src'], c['errors']) for c in st['cells'] if c['errors']]
            if bad: raise AssertionError(f"{rel}: a cell shows an error output: {bad[0]}")
            state['jlab_timings'][rel] = round(time.time() - t1)
        # Lesson 5's upload widget: give it a held-back image through its file input.
        img = held_back_image()
        drv.execute_script("""const nb = window.jupyterapp.shell.currentWidget.content;
            const i = nb.widgets.findIndex(c => c.model.sharedModel.getSource().includes('widgets.FileUpload'));
            if (i >= 0) { nb.activeCellIndex = i; nb.scrollToItem(i); }""")
        # ipywidgets 8 keeps the button's <input type=file> out of the page and calls its click() to open the file
        # dialog, which a headless browser cannot use. We make that click() put the input into the page instead,
        # click the real Upload button, and give the file to that input: the widget's own code does the rest.
        drv.execute_script("""const click = HTMLInputElement.prototype.click;
            HTMLInputElement.prototype.click = function () {
              if (this.type !== 'file') return click.call(this);
              this.id = 'tv-upload-input'; document.body.appendChild(this);
            };""")
        button = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, 'button.widget-upload'), 30, "lesson 5's Upload button")[-1]
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
        wait_for(lambda: drv.find_elements(By.ID, 'tv-upload-input'), 10, "the Upload button's file input")[0].send_keys(str(img))
        def answer():
            for o in drv.find_elements(By.CSS_SELECTOR, '.jupyter-widgets-output-area, .widget-output'):
                if 'probability' in o.text: return o
        out = wait_for(answer, 90, "the widget's prediction")
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", out)
        text = out.text
        if 'walle' not in text.split('probability', 1)[1][:200]:
            raise AssertionError(f"the upload widget printed no 'walle' prediction for {img.name}: {text[:300]!r}")
        RUNS.mkdir(exist_ok=True); drv.save_screenshot(str(RUNS/'jupyterlab.png'))
        m = work/'lessons'/'_out'/'05_your_own_images'/'model'
        if (m/'model.json').is_file(): state.setdefault('model_dir', m)
        record('jupyterlab: lessons 0 and 5 run all cells, upload widget predicts', t0)
    except Exception as e:
        if drv is not None:
            try: RUNS.mkdir(exist_ok=True); drv.save_screenshot(str(RUNS/'jupyterlab.png'))
            except Exception: pass
        log = (tmp/'jupyterlab.log').read_text()[-1500:] if (tmp/'jupyterlab.log').exists() else ''
        record('jupyterlab: lessons 0 and 5 run all cells, upload widget predicts', t0,
               f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}\n--- server log tail ---\n{log}")
    finally:
        if drv is not None: drv.quit()
        stop_server(proc)


# ---------------------------------------------------------------- Gradio demo
def train_model(dest) -> Path:
    r = subprocess.run([str(BIN/'transfervision'), 'train', 'doraemon_walle', '--out', str(dest), '--budget', 'test',
                        '--epochs', '1'], capture_output=True, text=True, env=env_for_lessons())
    if r.returncode: raise RuntimeError(f"transfervision train failed:\n{r.stderr[-2000:]}")
    return Path(dest)

def read_label(drv):
    "The top class the page shows in the Label component (empty if none)."
    from selenium.webdriver.common.by import By
    els = drv.find_elements(By.CSS_SELECTOR, '#tv-label [data-testid="label-output-value"]')
    if els: return els[0].text.strip()
    els = drv.find_elements(By.CSS_SELECTOR, '#tv-label h2, #tv-label .output-class')
    return els[0].text.strip() if els else ''

def test_demo(tmp, state):
    from selenium.webdriver.common.by import By
    t0 = time.time(); proc = drv = None
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        model = state.get('model_dir') or train_model(tmp/'model')
        state['demo_model'] = str(model)
        port = free_port()
        proc = start_server([sys.executable, '-m', 'transfervision', 'demo', str(model), '--host', '127.0.0.1', '--port', str(port)],
                            tmp/'demo.log', env=env_for_lessons())
        base = f"http://127.0.0.1:{port}/"
        wait_http(base, proc, timeout=120)
        drv = browser(tmp/'chrome-demo')
        drv.get(base)
        img = held_back_image('walle.113.jpg')
        file_input = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, '#tv-image input[type=file]'), 60, 'the upload box')[0]
        file_input.send_keys(str(img))
        label = wait_for(lambda: read_label(drv), 60, 'a prediction on the page')
        truth = img.name.split('.')[0]
        if label != truth: raise AssertionError(f"the page shows {label!r} for {img.name}, expected {truth!r}")
        RUNS.mkdir(exist_ok=True); drv.save_screenshot(str(RUNS/'demo.png'))
        if state.get('figure'): state['figure_written'] = lesson_figure(RUNS/'demo.png', FIGURE)
        # A bad upload: a text file named .jpg must give a message and clear the label.
        bad = tmp/'notes.jpg'; bad.write_text('not an image')
        drv.get(base)
        file_input = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, '#tv-image input[type=file]'), 60, 'the upload box')[0]
        file_input.send_keys(str(bad))
        msg = wait_for(lambda: ''.join(e.text for e in drv.find_elements(By.CSS_SELECTOR, '#tv-message')).strip()
                       or ''.join(e.text for e in drv.find_elements(By.CSS_SELECTOR, '.toast-body')).strip(), 60,
                       'a message about the bad upload')
        if 'not an image' not in msg or 'Traceback' in msg:
            raise AssertionError(f"unexpected message for a text file: {msg!r}")
        if read_label(drv): raise AssertionError("a label is shown for a text file")
        record(f'demo: upload {img.name} -> {label!r}; text file -> message', t0)
    except Exception as e:
        if drv is not None:
            try: RUNS.mkdir(exist_ok=True); drv.save_screenshot(str(RUNS/'demo.png'))
            except Exception: pass
        log = (tmp/'demo.log').read_text()[-1500:] if (tmp/'demo.log').exists() else ''
        record('demo: upload a held-back image, read the label', t0,
               f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}\n--- server log tail ---\n{log}")
    finally:
        if drv is not None: drv.quit()
        stop_server(proc)


FIGURE = ROOT/'lessons'/'images'/'06_demo.png'

def lesson_figure(screenshot: Path, dest: Path, width: int = 700, colours: int = 64) -> Path:
    "A small copy of `screenshot` for a lesson: cropped to the page's content, `width` pixels wide, a `colours` palette."
    from PIL import Image, ImageChops
    im = Image.open(screenshot).convert('RGB')
    bg = Image.new('RGB', im.size, im.getpixel((im.width - 1, im.height - 1)))
    if box := ImageChops.difference(im, bg).getbbox(): im = im.crop((0, 0, im.width, min(im.height, box[3] + 20)))
    im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    im.quantize(colours).save(dest, optimize=True)
    return dest

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--only', choices=['demo', 'jupyterlab'], help='run one test only')
    ap.add_argument('--keep', action='store_true', help='keep the temporary folder (logs, notebook copies)')
    ap.add_argument('--figure', action='store_true', help=f'write the demo screenshot, small, to {FIGURE.relative_to(ROOT)} for lesson 6')
    ap.add_argument('--model', default=None, help='exported model folder for the demo test (default: lesson 5\'s, else train one)')
    args = ap.parse_args()
    missing = [p for p in ('chromium', 'chromedriver') if not shutil.which(p)]
    try: import selenium  # noqa: F401
    except ImportError: missing.append('selenium (pip)')
    if missing:
        print(f"FAIL  browser tests: missing {', '.join(missing)}\n0 passed, 1 failed"); sys.exit(1)
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix='tv-browser-'))
    state = {'model_dir': Path(args.model)} if args.model else {}
    state['figure'] = args.figure
    try:
        if args.only in (None, 'jupyterlab'): test_jupyterlab(tmp/'jlab', state)
        if args.only in (None, 'demo'): test_demo(tmp/'demo', state)
    finally:
        if args.keep: print(f"temporary files kept in {tmp}")
        else: shutil.rmtree(tmp, ignore_errors=True)
    failed = [r for r in results if not r[1]]
    print(f"\nbrowser tests: {time.time() - t0:.0f} s; " + '; '.join(f"{k} {v} s" for k, v in state.get('jlab_timings', {}).items()))
    if state.get('figure_written'): print(f"lesson 6's figure: {state['figure_written'].relative_to(ROOT)}")
    if failed: print("Failed:\n" + '\n'.join(f"  {r[0]}" for r in failed))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
