package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"version"}, &stdout, &stderr))
	require.True(t, strings.HasPrefix(stdout.String(), "serialine-sim devel"), stdout.String())
	require.Empty(t, stderr.String())
}
