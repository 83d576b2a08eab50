package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// TestTemplatesNeedNoInlineScript: the Content-Security-Policy allows
// scripts and styles from central's own files only, so no template may
// carry an inline <script>, an on* handler, a javascript: URL or a style
// attribute or element (the browser would refuse them).
func TestTemplatesNeedNoInlineScript(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("templates", "*.html"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		z := html.NewTokenizer(strings.NewReader(string(b)))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			tok := z.Token()
			src := ""
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				require.False(t, strings.HasPrefix(key, "on"), "%s: <%s %s=...> is an inline handler", f, tok.Data, a.Key)
				require.NotEqual(t, "style", key, "%s: <%s style=...> is an inline style", f, tok.Data)
				require.NotContains(t, strings.ToLower(a.Val), "javascript:", "%s: <%s %s>", f, tok.Data, a.Key)
				if key == "src" {
					src = a.Val
				}
			}
			if tok.Data == "script" {
				require.True(t, strings.HasPrefix(src, "/static/"), "%s: a <script> without src=/static/... is inline", f)
			}
			require.NotEqual(t, "style", tok.Data, "%s: a <style> element is inline", f)
		}
	}
}
