import asyncio, sys, json, re, time
sys.path.insert(0, '/work/wt-9')
from playwright.async_api import async_playwright
from tests.support.features import FEATURES, FEATURE_START, PRELUDE
ARGS=["--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update","--disable-sync"]
PORT=int(sys.argv[1]); ONLY=sys.argv[2:] 
async def open_page(b, user, doc, logs):
    ctx = await b.new_context()
    p = await ctx.new_page()
    p.on("console", lambda m: logs.append(f"{user} {m.type}: {m.text[:300]}") if m.type in ("error","warning") else None)
    p.on("pageerror", lambda e: logs.append(f"{user} PAGEERROR {e}"))
    await p.goto(f"http://localhost:{PORT}/?user={user}&doc={doc}")
    await p.wait_for_function(f"(() => {{ const e = window.tinymce && tinymce.get('editor-{user}'); const r = e && e.plugins.rtc; return r && r.getState && r.getState().synced && r.getState().editable; }})()", timeout=20000)
    return p
async def state(p, user):
    return await p.evaluate(f"""async () => {{ const ed = tinymce.get('editor-{user}'); const r = ed.plugins.rtc; await r.flush();
      return {{canonical: r.getCanonicalContent(), content: ed.getContent(), local: ed.serializer.serialize(ed.getBody(), {{getInner: true}}), editable: r.getState().editable && !ed.mode.isReadOnly(), stats: r.getStats(), body: ed.getBody().innerHTML}}; }}""")
async def main():
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        ok = 0
        for i, (name, (plug, js)) in enumerate(FEATURES.items()):
            if ONLY and not any(o in name for o in ONLY): continue
            doc = f"feat-{int(time.time())}-{i}"
            logs = []
            A = await open_page(b, 'alice', doc, logs)
            await A.evaluate(f"() => {{ const ed = tinymce.get('editor-alice'); ed.setContent({json.dumps(FEATURE_START)}); }}")
            Bp = await open_page(b, 'bob', doc, logs)
            try:
                await A.evaluate(f"() => {{ const ed = tinymce.get('editor-alice'); {PRELUDE} {js} }}")
            except Exception as e:
                logs.append(f"ACTION FAILED {e}")
            await asyncio.sleep(0.8)
            sa = await state(A, 'alice'); sb = await state(Bp, 'bob')
            C = await open_page(b, 'carol', doc, logs)
            sc = await state(C, 'carol')
            same = sa['canonical'] == sb['canonical'] == sc['canonical'] and sa['content'] == sb['content'] == sc['content'] == sa['local'] == sb['local'] == sc['local']
            edit = sa['editable'] and sb['editable'] and sc['editable']
            good = same and edit and not logs and sa['stats']['incidents'] == 0
            ok += good
            print(('OK  ' if good else 'FAIL'), name, '|', sa['canonical'][:300].replace('\n', ' '))
            if not good:
                if not same:
                    for u, s in (('A', sa), ('B', sb), ('C', sc)): print('   ', u, 'content', s['content'][:400].replace('\n',' ')); print('   ', u, 'local  ', s['local'][:400].replace('\n',' '))
                    print('    A body', sa['body'][:400])
                if not edit: print('    editable', sa['editable'], sb['editable'], sc['editable'])
                for l in logs[:5]: print('    ', l)
                print('    stats', sa['stats'], sb['stats'])
            for p in (A, Bp, C): await p.context.close()
        print(ok, 'of', len(FEATURES))
        await b.close()
asyncio.run(main())
