package api

import (
	"errors"

	"github.com/serialine/serialine/shared/utf8json"
)

// checkUTF8 refuses a JSON body with invalid UTF-8 (400 naming the field)
// before encoding/json would quietly turn the bytes into U+FFFD.
func checkUTF8(body []byte) error {
	err := utf8json.Check(body)
	var ue *utf8json.Error
	if errors.As(err, &ue) {
		return badParam(ue.Field, "%s", ue.Error())
	}
	return err
}
