#!/usr/bin/env python3
"""Long functions: every Rust fn under the given roots (default src/) of at
least THRESHOLD lines (default 80), longest first, as `lines  path:line  name`.
A line count runs from the `fn` line to its closing brace; braces inside
strings, chars and comments are skipped.

Usage: python3 bench/fnlen.py [THRESHOLD] [ROOT...]
"""
import re, sys, os
FN = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)')
def strip(src):
    # replace strings, chars, comments with spaces, keep newlines
    out=[];i=0;n=len(src)
    while i<n:
        c=src[i]
        if src.startswith('//',i):
            j=src.find('\n',i); j=n if j<0 else j; out.append(' '*(j-i)); i=j
        elif src.startswith('/*',i):
            d=0;j=i
            while j<n:
                if src.startswith('/*',j): d+=1;j+=2
                elif src.startswith('*/',j): d-=1;j+=2
                else: j+=1
                if d==0: break
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j
        elif c=='r' and re.match(r'r#*"',src[i:i+10]) and (i==0 or not (src[i-1].isalnum() or src[i-1]=='_')):
            m=re.match(r'r(#*)"',src[i:]); h=m.group(1); end='"'+h
            j=src.find(end,i+len(m.group(0))); j=n if j<0 else j+len(end)
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j
        elif c=='"':
            j=i+1
            while j<n and src[j]!='"':
                j+=2 if src[j]=='\\' else 1
            j+=1; out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j
        elif c=="'":
            m=re.match(r"'(\\.[^']*|[^\\'])'",src[i:])
            if m: out.append(' '*len(m.group(0))); i+=len(m.group(0))
            else: out.append(c); i+=1
        else: out.append(c); i+=1
    return ''.join(out)
def fns(path):
    src=open(path).read(); s=strip(src); lines=s.split('\n')
    res=[]
    for ln,l in enumerate(lines):
        m=FN.match(l)
        if not m: continue
        # find opening brace or ; from this line
        text='\n'.join(lines[ln:]); depth=0; started=False; cur=ln
        for ch in text:
            if ch=='\n': cur+=1
            elif ch==';' and not started and depth==0: break
            elif ch=='{': depth+=1; started=True
            elif ch=='}':
                depth-=1
                if started and depth==0:
                    res.append((path,ln+1,m.group(1),cur-ln+1)); break
    return res
thr=int(sys.argv[1]) if len(sys.argv)>1 else 80
roots=sys.argv[2:] or ['src']
allf=[]
for r in roots:
    for d,_,fs in os.walk(r):
        for f in fs:
            if f.endswith('.rs'): allf+=fns(os.path.join(d,f))
for p,l,name,n in sorted(allf,key=lambda x:-x[3]):
    if n>=thr: print(f"{n:5d}  {p}:{l}  {name}")
