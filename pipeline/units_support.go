package pipeline

import "github.com/nst-project/nst/models"

// Models converts the config's preprocessing to the backbone's, for
// commands that run the backbone outside a style transfer run.
func (p Preprocess) Models() (models.Preprocess, error) { return p.models() }

// LoadModel loads the backbone m describes and checks that it is what
// model.arch says, as a run does before it starts.
func LoadModel(m ModelConfig) (*models.Backbone, error) {
	b, err := LoadBackbone(m.Path, m.Arch, m.Seed)
	if err != nil {
		return nil, err
	}
	if err := checkArch(b, m); err != nil {
		return nil, err
	}
	return b, nil
}
